// Built-in modules that only some of drayd's work needs, loaded at their first use. node:tls and
// node:https alone add ~5 MiB to the resident memory of a process that loads them (OpenSSL's TLS
// side set up), which a drayd that never speaks TLS — no TCP listener, no registry over HTTPS yet —
// should not pay while idle. Types come from `import type`, which costs nothing at run time.
import type * as HttpsModule from 'node:https';
import type * as TlsModule from 'node:tls';

export const httpsModule = (): typeof HttpsModule => require('node:https');
export const tlsModule = (): typeof TlsModule => require('node:tls');
