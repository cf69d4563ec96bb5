/** The native addon, loaded by the napi-rs generated loader (local build or platform package). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
import native = require('../native/binding.js')

export = native
