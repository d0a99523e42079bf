/** The SMTP sign-in: the password, or an OAuth2 client-credentials token kept until shortly before it expires. */
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Settings } from '../../core/precedence.js';
import { fetchClientCredentialsToken, readSecret, type AccessToken, type SecretAccess } from '../common.js';
import type { SmtpConfig } from './config.js';

export class SmtpCredentials {
  private token?: AccessToken;

  constructor(
    private readonly settings: Settings,
    private readonly secrets: SecretAccess,
  ) {}

  /** Reads the secret the configuration needs, so a missing one is reported before anything is stored. */
  async prepare(cfg: SmtpConfig): Promise<void> {
    if (cfg.authRequired && cfg.authMethod === 'password') await this.password();
    if (cfg.authRequired && cfg.authMethod === 'oauth2') await readSecret('smtp.oauth.clientSecret', 'smtp', this.settings, this.secrets);
  }

  password(): Promise<string> {
    return readSecret('smtp.password', 'smtp', this.settings, this.secrets);
  }

  async accessToken(cfg: SmtpConfig): Promise<AccessToken> {
    if (this.token && this.token.expiresAt > Date.now()) return this.token;
    const clientSecret = await readSecret('smtp.oauth.clientSecret', 'smtp', this.settings, this.secrets);
    this.token = await fetchClientCredentialsToken({
      provider: 'smtp',
      tokenUrl: cfg.oauth!.tokenUrl,
      clientId: cfg.oauth!.clientId,
      clientSecret,
      scope: cfg.oauth!.scope,
    });
    return this.token;
  }

  /** A transport's `auth`, and the token in it (a pooled transport is rebuilt once that expires). */
  async forTransport(cfg: SmtpConfig): Promise<{ auth?: SMTPConnection.AuthenticationType; token?: AccessToken }> {
    if (!cfg.authRequired) return {};
    if (cfg.authMethod === 'oauth2') {
      const token = await this.accessToken(cfg);
      return { auth: { type: 'OAuth2', user: cfg.username, accessToken: token.accessToken }, token };
    }
    return { auth: { user: cfg.username, pass: await this.password() } };
  }
}
