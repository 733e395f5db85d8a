"""Copy-paste curl examples for a running server (pure text; the README shows the same).

They read the keys from the shell: `export WRITE_KEY=...` and `export SERVER_KEY=...`.
"""

from __future__ import annotations

EXAMPLE_USER = "ada-42"
# Well-formed, but no phone holds it: pushes to it would fail at FCM, not here.
EXAMPLE_FCM_TOKEN = "dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqxT9cJr4mVxk2LqZsWnBd8"


def curl_examples(url: str) -> str:
    """Identify, register a device, track a batch, read the profile back (server key)."""
    url = url.rstrip("/")
    u = EXAMPLE_USER
    return f"""\
# 1. Identify a user with typed attributes (write key: what an SDK sends)
curl -s -w '\\n' {url}/v1/identify \\
  -H "Authorization: Bearer $WRITE_KEY" -H "Content-Type: application/json" \\
  -d '{{"external_id": "{u}", "attributes": {{"name": "Ada Lovelace", "plan": "pro", "seats": 5,
       "signup_date": "2025-11-02T09:30:00Z", "beta_tester": true}},
       "locale": "en-GB", "timezone": "Europe/London", "consent": {{"push": true, "inapp": true}}}}'

# 2. Register the user's phone with its push address (FCM token)
curl -s -w '\\n' {url}/v1/devices \\
  -H "Authorization: Bearer $WRITE_KEY" -H "Content-Type: application/json" \\
  -d '{{"external_id": "{u}", "device_id": "ada-pixel-8", "platform": "android",
       "manufacturer": "Google", "model": "Pixel 8", "os_name": "Android", "os_version": "14",
       "app_version": "4.0.0", "sdk_version": "0.1.0", "locale": "en-GB",
       "timezone": "Europe/London",
       "push": {{"provider": "fcm", "address": "{EXAMPLE_FCM_TOKEN}"}}}}'

# 3. Track a batch of events (each judged on its own; message_id makes retries safe)
curl -s -w '\\n' {url}/v1/track \\
  -H "Authorization: Bearer $WRITE_KEY" -H "Content-Type: application/json" \\
  -d '{{"external_id": "{u}", "device_id": "ada-pixel-8", "events": [
        {{"name": "$session_start", "properties": {{"app_version": "4.0.0"}},
         "message_id": "{u}-1"}},
        {{"name": "$screen_view", "properties": {{"screen": "Pricing"}}, "message_id": "{u}-2"}},
        {{"name": "purchase", "properties": {{"amount": 12, "currency": "GBP"}},
         "message_id": "{u}-3"}}]}}'

# 4. Fetch the profile with its aggregates (server key): find the id, then the profile
USER_ID=$(curl -s "{url}/v1/users?external_id={u}" -H "Authorization: Bearer $SERVER_KEY" \\
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])')
curl -s {url}/v1/users/$USER_ID -H "Authorization: Bearer $SERVER_KEY" | python3 -m json.tool
"""
