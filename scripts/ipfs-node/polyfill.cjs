// js-ipfs 0.66.1's dependencies call Promise.withResolvers, which Node gained only in 22;
// loaded with NODE_OPTIONS="--require .../polyfill.cjs" by the test fixture.
'use strict'

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve, reject
      const promise = new this((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}
