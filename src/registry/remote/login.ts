// POST /auth: whether credentials open a registry, checked the way Docker checks them — GET /v2/
// with them (basic), or a token asked for with them (bearer; with offline_token=true, so a token
// server that issues refresh tokens hands back one, which clients keep as IdentityToken).
// A registry that asks for nothing accepts any login, as with Docker.
import type { RegistryClient } from './client';
import { v2Url } from './client';
import type { AuthConfig } from './credentials';
import { hasCredentials } from './credentials';
import { apiHost, registryOfServerAddress } from './resolve';
import { basicHeader } from './auth';
import { goMethod } from './transport';
import { regError, REG_ERR, RegistryError } from './errors';

export interface LoginResult { Status: string; IdentityToken: string }

export async function login(client: RegistryClient, creds: AuthConfig): Promise<LoginResult> {
  const registry = registryOfServerAddress(creds.serveraddress ?? '');
  const host = apiHost(registry);
  const session = await client.session({ registry, host, repository: '', creds, actions: [], pull: false });
  const ep = await session.origin();
  const url = v2Url(ep.base, '/v2/');
  const ch = ep.auth.challenge;
  if (!ch) return { Status: 'Login Succeeded', IdentityToken: '' };
  if (!hasCredentials(creds)) throw regError(REG_ERR.UNAUTHORIZED, `${goMethod('GET')} ${JSON.stringify(url.toString())}: unauthorized: authentication required`);
  if (ch.scheme === 'basic') {
    const res = await client.raw(ep, 'GET', url, { Authorization: basicHeader(creds) ?? '' });
    await res.discard();
    if (res.status === 200) return { Status: 'Login Succeeded', IdentityToken: '' };
    throw regError(REG_ERR.UNAUTHORIZED, `login attempt to ${url} failed with status: ${res.status} ${statusText(res.status)}`, { status: res.status });
  }
  let token: { token: string; refresh?: string };
  try { token = await session.loginToken(ep); } catch (e) {
    if (e instanceof RegistryError && e.code === REG_ERR.UNAUTHORIZED) throw regError(REG_ERR.UNAUTHORIZED, `${goMethod('GET')} ${JSON.stringify(url.toString())}: ${e.message}`, e.detail);
    throw e;
  }
  const res = await client.raw(ep, 'GET', url, { Authorization: `Bearer ${token.token}` });
  await res.discard();
  if (res.status !== 200) throw regError(REG_ERR.UNAUTHORIZED, `login attempt to ${url} failed with status: ${res.status} ${statusText(res.status)}`, { status: res.status });
  return { Status: 'Login Succeeded', IdentityToken: token.refresh ?? '' };
}

function statusText(s: number): string {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require('node:http').STATUS_CODES as Record<number, string>)[s] ?? '';
}
