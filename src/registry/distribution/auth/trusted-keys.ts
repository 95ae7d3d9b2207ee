// The keys an external token server signs with (auth.token.rootcertbundle and jwks, as in
// distribution's configuration). A token is good when its signature checks out against the key
// its header leads to: the leaf of its x5c chain when that chain ends at a bundle certificate,
// the JWKS key its kid names, or, with neither, any trusted key. The claims are checked as the
// built-in token server's are (issuer, audience = the service, exp and nbf).
import { X509Certificate, createPublicKey, KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeProtectedHeader, jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';

const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

export class TrustedKeys {
  private readonly certs: X509Certificate[] = [];
  private readonly byKid = new Map<string, KeyObject[]>();
  private readonly all: KeyObject[] = [];

  constructor(bundle?: string, jwks?: string) {
    if (bundle) {
      const pems = readFileSync(bundle, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      if (!pems.length) throw new Error(`auth.token.rootcertbundle ${bundle}: no PEM certificate in it`);
      for (const p of pems) {
        const c = new X509Certificate(p);
        this.certs.push(c);
        this.all.push(c.publicKey);
      }
    }
    if (jwks) {
      let set: { keys?: unknown };
      try { set = JSON.parse(readFileSync(jwks, 'utf8')); } catch (e) { throw new Error(`auth.token.jwks ${jwks}: ${(e as Error).message}`); }
      if (!Array.isArray(set.keys) || !set.keys.length) throw new Error(`auth.token.jwks ${jwks}: expected a JSON Web Key Set ({"keys": [...]})`);
      for (const jwk of set.keys as Array<Record<string, unknown>>) {
        const k = createPublicKey({ key: jwk as any, format: 'jwk' });
        this.all.push(k);
        if (typeof jwk.kid === 'string') this.byKid.set(jwk.kid, [...(this.byKid.get(jwk.kid) ?? []), k]);
      }
    }
  }

  /** The token's claims once its signature and claims check out; throws why not. */
  async verify(token: string, expect: { issuer: string; audience: string }): Promise<JWTPayload> {
    let header;
    try { header = decodeProtectedHeader(token); } catch { throw new Error('malformed token'); }
    const keys = Array.isArray(header.x5c) && header.x5c.length ? [this.chainKey(header.x5c)]
      : header.kid && this.byKid.has(header.kid) ? this.byKid.get(header.kid)!
      : this.all;
    let last: unknown = new Error('no trusted key');
    for (const key of keys) {
      try {
        return (await jwtVerify(token, key, { issuer: expect.issuer, audience: expect.audience, algorithms: ALGORITHMS, clockTolerance: 10 })).payload;
      } catch (e) {
        // A bad claim is the token's fault whichever key signed it; only a signature that does
        // not match sends us to the next key.
        if (!(e instanceof joseErrors.JWSSignatureVerificationFailed) && !(e instanceof joseErrors.JOSEAlgNotAllowed)) throw e;
        last = e;
      }
    }
    throw last instanceof joseErrors.JWSSignatureVerificationFailed ? new Error('the token is not signed by a trusted key') : last;
  }

  /** The leaf's key of an x5c chain, each certificate issued by the next, ending at (or issued by) a bundle certificate. */
  private chainKey(x5c: string[]): KeyObject {
    const chain = x5c.map((b) => new X509Certificate(Buffer.from(b, 'base64')));
    const now = Date.now();
    for (const c of chain) {
      if (Date.parse(c.validFrom) > now || Date.parse(c.validTo) < now) throw new Error('a certificate of the token\'s x5c chain is not valid now');
    }
    for (let i = 0; i + 1 < chain.length; i++) {
      if (!chain[i].checkIssued(chain[i + 1]) || !chain[i].verify(chain[i + 1].publicKey)) throw new Error('the token\'s x5c chain is broken');
    }
    const top = chain[chain.length - 1];
    const trusted = this.certs.some((r) => r.fingerprint256 === top.fingerprint256 || (top.checkIssued(r) && top.verify(r.publicKey)));
    if (!trusted) throw new Error('the token\'s x5c chain does not lead to a certificate of auth.token.rootcertbundle');
    return chain[0].publicKey;
  }
}
