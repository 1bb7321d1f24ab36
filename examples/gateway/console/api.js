// The console's only way to the server: the same /api/v1/iam and /api/v1/auth endpoints
// any client uses (no console-only backdoor). Errors keep the gateway's masked message.

export class ApiError extends Error {
  constructor(status, message, type) {
    super(message);
    this.name = 'ApiError';
    this.status = status;  // HTTP status (0: the server could not be reached)
    this.type = type;      // the protocol's error type when the body names one
  }
}

// The message a caller may see: the gateway's own words ("auth failure", "access denied",
// {"type","message"}), never anything the console makes up about the cause.
function errorFrom(status, body) {
  const error = body && body.error;
  if (typeof error === 'string') return new ApiError(status, error, undefined);
  if (error && typeof error === 'object') return new ApiError(status, String(error.message || error.type), error.type);
  return new ApiError(status, `request failed (HTTP ${status})`, undefined);
}

// `getToken()` gives the current JWT (or null); `onUnauthorized(error)` is called when a
// request that carried a token is answered 401 (expired or revoked session).
export function createApi({ getToken, onUnauthorized }) {
  // `endsSessionOn401`: false where a 401 may mean a wrong password rather than a dead token.
  async function post(path, body, useToken, endsSessionOn401 = true) {
    const headers = { 'Content-Type': 'application/json' };
    const token = useToken ? getToken() : null;
    if (useToken && !token) {
      const error = new ApiError(401, 'auth failure', undefined);
      onUnauthorized(error);
      throw error;
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(path, {
        method: 'POST', headers, body: JSON.stringify(body), cache: 'no-store', credentials: 'omit',
      });
    } catch (cause) {
      throw new ApiError(0, 'the server could not be reached', undefined);
    }
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (cause) {
      parsed = null;
    }
    if (!response.ok) {
      const error = errorFrom(response.status, parsed);
      if (response.status === 401 && token && endsSessionOn401) onUnauthorized(error);
      throw error;
    }
    return parsed || {};
  }

  return {
    // An IAM operation: POST /api/v1/iam {operation, ...fields}; the parsed answer.
    call(operation, fields = {}) {
      return post('/api/v1/iam', { ...fields, operation }, true);
    },
    // POST /api/v1/auth/login → {jwt, jwt_expires}; a wrong password is ApiError 401 "auth failure".
    login(username, password) {
      return post('/api/v1/auth/login', { username, password }, false);
    },
    // POST /api/v1/auth/change-password for the caller → {}.
    // Its 401 means a wrong current password or a dead session, with the same masked body:
    // whoami tells them apart (and ends a dead session) before the error is passed on.
    async changePassword(currentPassword, newPassword) {
      try {
        return await post('/api/v1/auth/change-password',
          { current_password: currentPassword, new_password: newPassword }, true, false);
      } catch (error) {
        if (error.status === 401) await this.whoami();
        throw error;
      }
    },
    // The caller's own user record (whoami needs no users:read).
    async whoami() {
      return (await this.call('whoami')).user;
    },
  };
}
