document.documentElement.setAttribute("data-survived", "yes");
