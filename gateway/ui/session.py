"""The console's login: a signed cookie holding the key's name and a CSRF token.

The API dialects keep no sessions (gateway/app.py NoSessions); only the
console reads this one cookie. It never holds the key itself: the name is
looked up in the configured keys on every request, so removing a key from
the config ends its sessions at the next restart.
"""

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "soa_ui"
PATH = "/ui"


@dataclass(frozen=True)
class Session:
    key_name: str
    csrf: str

    def csrf_ok(self, sent):
        return bool(sent) and hmac.compare_digest(self.csrf, str(sent))


class Sessions:
    def __init__(self, secret, max_age):
        # Without a configured secret a random one per process: logins then
        # last until the process restarts and do not carry across workers.
        self._signer = URLSafeTimedSerializer(secret or secrets.token_hex(32), salt="soa-ui-session")
        self.max_age = max_age

    def read(self, cookies):
        """The Session of a request's cookies, or None (none, forged or expired)."""
        value = cookies.get(COOKIE)
        if not value:
            return None
        try:
            name, csrf = self._signer.loads(value, max_age=self.max_age)
        except (BadSignature, ValueError, TypeError):
            return None
        return Session(name, csrf)

    def start(self, response, key_name, secure):
        session = Session(key_name, secrets.token_urlsafe(24))
        response.set_cookie(
            COOKIE,
            self._signer.dumps([session.key_name, session.csrf]),
            max_age=self.max_age,
            path=PATH,
            httponly=True,
            samesite="Strict",
            secure=secure,
        )
        return session

    @staticmethod
    def end(response, secure):
        response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="Strict", secure=secure)
