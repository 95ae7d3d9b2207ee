// The token authority of the built-in token server: signs the JWTs Docker's token flow expects
// (iss, sub, aud = the service, exp, and an "access" claim listing repository scopes) and checks
// them when they come back. The key is an EC P-256 or RSA private key from a PEM file, so tokens
// stay good across restarts and across registry processes sharing one storage; without one an
// ephemeral P-256 key is made at start.
import { createPrivateKey, createPublicKey, generateKeyPairSync, createHash, randomBytes, KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
import type { Access } from './access';

export interface TokenOptions { issuer: string; service: string; expirationS: number; key?: string }

export interface Verified { subject?: string; access: Access[] }

const REFRESH_TTL_S = 90 * 86400;

/** A token's subject and the well-formed entries of its "access" claim (whoever issued it). */
export function verified(payload: JWTPayload): Verified {
  const access = Array.isArray(payload.access) ? (payload.access as Access[]).filter((a) => a && typeof a.type === 'string' && typeof a.name === 'string' && Array.isArray(a.actions)) : [];
  return { subject: payload.sub || undefined, access };
}

export class TokenAuthority {
  private privateKey: KeyObject;
  private publicKey: KeyObject;
  private alg: 'ES256' | 'RS256';
  private kid: string;

  constructor(readonly opts: TokenOptions) {
    if (opts.key) {
      this.privateKey = createPrivateKey(readFileSync(opts.key));
    } else {
      this.privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    }
    const type = this.privateKey.asymmetricKeyType;
    if (type === 'ec') {
      if (this.privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error(`auth.token.key: an EC key must be on P-256 (ES256)`);
      this.alg = 'ES256';
    } else if (type === 'rsa') this.alg = 'RS256';
    else throw new Error(`auth.token.key: expected an EC P-256 or RSA private key, got ${type}`);
    this.publicKey = createPublicKey(this.privateKey);
    this.kid = createHash('sha256').update(this.publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 32);
  }

  async issue(subject: string | undefined, access: Access[]): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: this.alg, typ: 'JWT', kid: this.kid })
      .setIssuer(this.opts.issuer)
      .setSubject(subject ?? '')
      .setAudience(this.opts.service)
      .setIssuedAt(now)
      .setNotBefore(now - 10) // clocks of several registry processes differ a little
      .setExpirationTime(now + this.opts.expirationS)
      .setJti(randomBytes(16).toString('hex'))
      .sign(this.privateKey);
    return { token, expiresIn: this.opts.expirationS, issuedAt: new Date(now * 1000).toISOString() };
  }

  async verify(token: string): Promise<Verified> {
    const { payload } = await jwtVerify(token, this.publicKey, { issuer: this.opts.issuer, audience: this.opts.service, algorithms: [this.alg] });
    if (payload.typ === 'refresh') throw new Error('a refresh token is not an access token');
    return verified(payload);
  }

  /** A long-lived token that stands for the account's password (docker login's identity token). */
  async issueRefresh(subject: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ typ: 'refresh' })
      .setProtectedHeader({ alg: this.alg, typ: 'JWT', kid: this.kid })
      .setIssuer(this.opts.issuer).setSubject(subject).setAudience(this.opts.service)
      .setIssuedAt(now).setExpirationTime(now + REFRESH_TTL_S).setJti(randomBytes(16).toString('hex'))
      .sign(this.privateKey);
  }

  async verifyRefresh(token: string): Promise<string> {
    const { payload } = await jwtVerify(token, this.publicKey, { issuer: this.opts.issuer, audience: this.opts.service, algorithms: [this.alg] });
    if (payload.typ !== 'refresh' || !payload.sub) throw new Error('not a refresh token');
    return payload.sub;
  }
}
