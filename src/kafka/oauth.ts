/**
 * SASL/OAUTHBEARER with the OIDC client-credentials flow (issue 19 item 8): the token is fetched from
 * `sasl_oauthbearer_token_endpoint_url` (RFC 6749 section 4.4: POST grant_type=client_credentials,
 * the client id and secret as HTTP Basic credentials, an optional scope), cached, and fetched again
 * once 80% of its lifetime has passed, so a connection opened near the end of a token's life never
 * presents an expired one. Every connection of the process with the same endpoint, client and scope
 * shares one token. The secret is never logged or put in an error message.
 */
import { UserError } from '../util/errors.js';

export interface OidcClientCredentials {
  tokenEndpointUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string;
}

/** Share of a token's lifetime after which it is renewed. */
const REFRESH_AT = 0.8;
/** Lifetime assumed when the endpoint gives no expires_in (seconds). */
const DEFAULT_LIFETIME_SECS = 300;

interface Cached {
  token: string;
  refreshAt: number;
}

export class OidcTokenProvider {
  readonly #creds: OidcClientCredentials;
  readonly #now: () => number;
  #cached: Cached | undefined;
  #pending: Promise<string> | undefined;
  /** Tokens fetched so far (tests, metrics). */
  fetched = 0;

  constructor(creds: OidcClientCredentials, now: () => number = Date.now) {
    this.#creds = creds;
    this.#now = now;
  }

  /** A token valid for at least the remaining 20% of its lifetime; concurrent callers share one request. */
  async token(): Promise<string> {
    const c = this.#cached;
    if (c && this.#now() < c.refreshAt) return c.token;
    this.#pending ??= this.#fetch().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #fetch(): Promise<string> {
    const { tokenEndpointUrl, clientId, clientSecret, scope } = this.#creds;
    const where = `security.sasl_oauthbearer_token_endpoint_url ${tokenEndpointUrl}`;
    const body = new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) });
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
    const started = this.#now();
    let res: Response;
    try {
      res = await fetch(tokenEndpointUrl, {
        method: 'POST',
        body,
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new UserError(
        'OAUTH_TOKEN',
        `${where}: cannot reach the token endpoint (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message})`,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      // The OAuth error code and description (RFC 6749 5.2) say what is wrong; never echo the request.
      let reason = '';
      try {
        const e = JSON.parse(text) as { error?: unknown; error_description?: unknown };
        reason = [e.error, e.error_description].filter((x) => typeof x === 'string').join(': ');
      } catch {
        /* not JSON */
      }
      throw new UserError(
        'OAUTH_TOKEN',
        `${where}: the token endpoint refused client ${clientId} with HTTP ${res.status}${reason ? ` (${reason})` : ''}; check sasl_oauthbearer_client_id and sasl_oauthbearer_client_secret`,
      );
    }
    let parsed: { access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new UserError('OAUTH_TOKEN', `${where}: the token endpoint's answer is not JSON`);
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token === '')
      throw new UserError('OAUTH_TOKEN', `${where}: the token endpoint's answer has no access_token`);
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_LIFETIME_SECS;
    this.#cached = { token: parsed.access_token, refreshAt: started + lifetime * 1000 * REFRESH_AT };
    this.fetched++;
    return parsed.access_token;
  }
}

const providers = new Map<string, OidcTokenProvider>();

/** The process-wide provider of these credentials (one token shared by all connections). */
export function oidcTokenProvider(creds: OidcClientCredentials): OidcTokenProvider {
  const key = JSON.stringify([creds.tokenEndpointUrl, creds.clientId, creds.clientSecret, creds.scope ?? '']);
  let p = providers.get(key);
  if (!p) {
    p = new OidcTokenProvider(creds);
    providers.set(key, p);
  }
  return p;
}
