"""A self-hosted Zulip server's side of the billing login, with the library
Zulip's server uses for it (requests): the same call for every request
(form-encoded data, HTTP Basic auth with zulip_org_id:zulip_org_key, a
ZulipServer user agent), nested objects as compact JSON strings, and the
order of calls of zerver/views/push_notifications.py: ask for a billing
access URL; on MISSING_REMOTE_REALM upload the realms (status first, then
the analytics upload) and ask again.

Usage: python zulip_server.py BASE_URL ORG_ID ORG_KEY REALM_UUID REALM_HOST USER_UUID EMAIL FULL_NAME
Prints one JSON object: the status and code of each call, and the URL.
"""

import json
import sys
import uuid

import requests

base_url, org_id, org_key, realm_uuid, realm_host, user_uuid, email, full_name = sys.argv[1:9]
calls = []


def compact(value):
    # pydantic's model_dump_json writes JSON without spaces.
    return json.dumps(value, separators=(",", ":"))


def bouncer(method, endpoint, data, auth=True):
    response = requests.request(
        method,
        f"{base_url}/api/v1/remotes/{endpoint}",
        data=data,
        auth=requests.auth.HTTPBasicAuth(org_id, org_key) if auth else None,
        headers={"User-agent": "ZulipServer/10.0"},
        timeout=15,
    )
    body = response.json()
    calls.append({"endpoint": endpoint, "status": response.status_code, "result": body.get("result"), "code": body.get("code")})
    return response.status_code, body


realm = {
    "id": 2,
    "host": realm_host,
    "url": f"http://{realm_host}",
    "name": "Zulip Dev",
    "org_type": 0,
    "date_created": 1700000000.123,
    "deactivated": False,
    "is_system_bot_realm": False,
    "authentication_methods": {"Email": True, "Dev": True},
    "uuid": realm_uuid,
    "uuid_owner_secret": "zuliprealm_0123456789abcdef",
}
system_bot_realm = {**realm, "id": 1, "host": f"zulipinternal.{realm_host}", "is_system_bot_realm": True, "uuid": str(uuid.uuid4())}

# `manage.py register_server`, for a server registered before this realm was uploaded.
bouncer("POST", "server/register", {"zulip_org_id": org_id, "zulip_org_key": org_key, "hostname": realm_host, "contact_email": "desdemona@example.test"}, auth=False)


def upload_realms():
    status, body = bouncer("GET", "server/analytics/status", {})
    assert status == 200, body
    for key in ("last_realm_count_id", "last_installation_count_id", "last_realmauditlog_id"):
        assert isinstance(body[key], int), body
    status, body = bouncer(
        "POST",
        "server/analytics",
        {
            "realm_counts": compact([]),
            "installation_counts": compact([]),
            "realmauditlog_rows": compact([{"id": 7, "realm": 2, "event_time": 1700000001.5, "backfilled": False, "extra_data": compact({"RealmAuditLog.ROLE_COUNT": {}}), "event_type": 101}]),
            "realms": compact([system_bot_realm, realm]),
            "version": compact("10.0"),
            "merge_base": None,  # dropped by requests, as for a release build
            "api_feature_level": compact(300),
        },
    )
    assert status == 200 and isinstance(body["realms"], dict), body


post_data = {
    "user": compact({"uuid": user_uuid, "email": email, "full_name": full_name}),
    "realm": compact(realm),
    "uri_scheme": "http://",
}
status, body = bouncer("POST", "server/billing", post_data)
if status == 403 and body.get("code") == "MISSING_REMOTE_REALM":
    upload_realms()
    status, body = bouncer("POST", "server/billing", post_data)
assert status == 200 and body["result"] == "success", body
print(json.dumps({"calls": calls, "billing_access_url": body["billing_access_url"]}))
