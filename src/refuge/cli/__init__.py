"""The application shell: everything that turns the rooms below into a program someone runs.

`main` is the `refuge` command line (commands by topic in `database`, `mirrors` and
`replicas`, printed through `output`); `pipeline` decides and runs what follows a
capture (replicate, then publish), for the CLI and the scheduler alike; `scheduler`
fires captures, replication, fixity audits and mirror checks on their schedules;
`service` is `refuge run` (the scheduler and the replay server in one process); `demo`
captures a bundled sample site on loopback. Nothing below `cli` imports from it.
"""
