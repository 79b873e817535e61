import { type FormEvent, useState } from 'react';
import { api, errorMessage } from '../api/client.ts';
import { setSessionFromTokens, type TokenResponse } from '../api/session.ts';

type LoginAnswer = TokenResponse | { mfaRequired: true; mfaToken: string } | { mfaEnrollmentRequired: true; mfaToken: string };

interface Enrollment {
  secret: string;
  otpauthUri: string;
}

/** Sign in, with the one-time-code step when the user has MFA on. */
export function Login({ notice }: { notice?: string | null }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const [enrollment, setEnrollment] = useState<Enrollment | null>(null);
  const [recovery, setRecovery] = useState<{ codes: string[]; session: TokenResponse } | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const signIn = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (!email.trim() || !password) {
      setError('Enter your email and password.');
      return;
    }
    setBusy(true);
    try {
      const res = await api<LoginAnswer>('/api/v1/auth/login', { method: 'POST', body: { email: email.trim(), password } });
      if ('mfaRequired' in res.data) setMfaToken(res.data.mfaToken);
      else if ('mfaEnrollmentRequired' in res.data) {
        // The organization requires MFA and this user has none yet: enroll before the first sign-in.
        const token = res.data.mfaToken;
        const enrolled = await api<Enrollment>('/api/v1/auth/mfa/enroll', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
        setMfaToken(token);
        setEnrollment(enrolled.data);
      } else setSessionFromTokens(res.data);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const verify = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (!/^\d{6,8}$/.test(code.trim()) && code.trim().length < 8) {
      setError('Enter the 6-digit code from your authenticator app (or a recovery code).');
      return;
    }
    setBusy(true);
    try {
      if (enrollment) {
        const res = await api<TokenResponse & { recoveryCodes: string[] }>('/api/v1/auth/mfa/confirm', {
          method: 'POST',
          body: { code: code.trim() },
          headers: { authorization: `Bearer ${mfaToken}` },
        });
        setRecovery({ codes: res.data.recoveryCodes ?? [], session: res.data });
        return;
      }
      const res = await api<TokenResponse>('/api/v1/auth/mfa', { method: 'POST', body: { mfaToken, code: code.trim() } });
      setSessionFromTokens(res.data);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <div className="login-card">
        <div className="brand brand-large">
          <img src="/favicon.svg" alt="" width={36} height={36} />
          <span>Basalt</span>
        </div>
        {notice && (
          <p className="notice" role="status">
            {notice}
          </p>
        )}
        {recovery ? (
          <div className="stack">
            <h1>Save your recovery codes</h1>
            <p>Each code signs you in once if you lose your authenticator. They are shown only now.</p>
            <code className="secret" data-testid="recovery-codes">
              {recovery.codes.join('\n')}
            </code>
            <button type="button" className="btn btn-primary btn-block" onClick={() => setSessionFromTokens(recovery.session)}>
              I have saved them — continue
            </button>
          </div>
        ) : mfaToken === null ? (
          <form onSubmit={(e) => void signIn(e)} noValidate aria-label="Sign in">
            <h1>Sign in</h1>
            <label htmlFor="login-email">Email</label>
            <input id="login-email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} autoFocus />
            <label htmlFor="login-password">Password</label>
            <input id="login-password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
            {error && (
              <p className="form-error" role="alert">
                {error}
              </p>
            )}
            <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
              {busy ? 'Signing in…' : 'Sign in'}
            </button>
          </form>
        ) : (
          <form onSubmit={(e) => void verify(e)} noValidate aria-label="Verification code">
            <h1>Two-step verification</h1>
            {enrollment ? (
              <>
                <p>Your organization requires a second factor. Add this key to your authenticator app, then enter the code it shows.</p>
                <code className="secret" data-testid="mfa-secret">
                  {enrollment.secret}
                </code>
                <a href={enrollment.otpauthUri}>Open in an authenticator app on this device</a>
              </>
            ) : (
              <p>Enter the code from your authenticator app.</p>
            )}
            <label htmlFor="login-code">Code</label>
            <input
              id="login-code"
              inputMode="numeric"
              autoComplete="one-time-code"
              value={code}
              onChange={(e) => setCode(e.target.value)}
              autoFocus
            />
            {error && (
              <p className="form-error" role="alert">
                {error}
              </p>
            )}
            <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
              {busy ? 'Verifying…' : 'Verify'}
            </button>
            <button
              type="button"
              className="btn btn-link"
              onClick={() => {
                setMfaToken(null);
                setEnrollment(null);
                setCode('');
                setError(null);
              }}
            >
              Back
            </button>
          </form>
        )}
      </div>
    </main>
  );
}
