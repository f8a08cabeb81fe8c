"""Makes a demo HS256 JWT for examples/jwt/clients.yaml: python make_token.py SUB [SECRET]

Only for trying the JWT set-up locally. A company IdP signs its own tokens (RS256/ES256) and Envoy
fetches its keys with `remote_jwks`; see README.md here.
"""
import base64
import hashlib
import hmac
import json
import sys
import time

sub = sys.argv[1]
secret = (sys.argv[2] if len(sys.argv) > 2 else "tollgate-demo-jwt-secret").encode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "demo"}).encode())
claims = b64(json.dumps({"iss": "https://idp.example.com", "aud": "tollgate", "sub": sub,
                         "exp": int(time.time()) + 3600}).encode())
sig = b64(hmac.new(secret, f"{header}.{claims}".encode(), hashlib.sha256).digest())
print(f"{header}.{claims}.{sig}")
