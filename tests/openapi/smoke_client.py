"""A client generated from openapi/openapi.json by openapi-python-client runs a smoke flow.

Usage: smoke_client.py <document> <work-dir> <base-url> <client-id> <client-secret>

Generates the client into <work-dir>, imports it, and walks the flow an app's first day takes:
token, user, charger, a charging action and its state, a location, a validation error. Every answer
must parse into the generated (typed) model the document promises; enumerated fields must arrive as
the generated enums. Exits non-zero, saying what broke, on the first surprise.
"""

import importlib
import os
import subprocess
import sys


def fail(message):
    print(f"smoke flow failed: {message}", file=sys.stderr)
    sys.exit(1)


def generate(document, work_dir):
    env = dict(os.environ)
    # The generator formats with ruff, installed beside it in the same environment.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", document,
         "--meta", "none", "--output-path", os.path.join(work_dir, "coupler_client"), "--overwrite"],
        capture_output=True, text=True, env=env,
    )
    if result.returncode != 0:
        fail(f"the generator failed:\n{result.stdout}\n{result.stderr}")
    # A generator that skips part of the document leaves typed calls missing: treat it as an error.
    if "Skipping" in result.stdout or "Skipping" in result.stderr:
        fail(f"the generator skipped part of the document:\n{result.stdout}\n{result.stderr}")
    sys.path.insert(0, work_dir)


def main():
    document, work_dir, base_url, client_id, client_secret = sys.argv[1:6]
    generate(document, work_dir)
    client_mod = importlib.import_module("coupler_client")
    models = importlib.import_module("coupler_client.models")
    api = lambda name: importlib.import_module(f"coupler_client.api.{name}")  # noqa: E731

    anonymous = client_mod.Client(base_url=base_url)
    token = api("authentication.create_token").sync(
        client=anonymous,
        body=models.TokenRequest(
            grant_type=models.GrantType.CLIENT_CREDENTIALS,
            client_id=client_id,
            client_secret=client_secret,
        ),
    )
    if not isinstance(token, models.TokenResponse):
        fail(f"no token: {token}")
    client = client_mod.AuthenticatedClient(base_url=base_url, token=token.access_token)

    user = api("users.put_user").sync_detailed("smoke-user", client=client)
    if user.status_code not in (200, 201) or not isinstance(user.parsed, models.UserResponse):
        fail(f"put_user answered {user.status_code}: {user.content!r}")
    users = api("users.list_users").sync(client=client, page_size=10)
    if not isinstance(users, models.UserPage) or [u.id for u in users.data] != ["smoke-user"]:
        fail(f"list_users: {users}")

    charger = api("chargers.register_charger").sync(
        "smoke-user", client=client, body=models.RegisterCharger(ocpp_id="SMOKE-1", name="Garage")
    )
    if not isinstance(charger, models.RegisteredCharger):
        fail(f"register_charger: {charger}")
    got = api("chargers.get_charger").sync(charger.id, client=client)
    if not isinstance(got, models.ChargerResponse):
        fail(f"get_charger: {got}")
    if not isinstance(got.charge_state.power_delivery_state, models.PowerDeliveryState):
        fail(f"powerDeliveryState is not the generated enum: {got.charge_state.power_delivery_state!r}")

    action = api("chargers.control_charger_charging").sync(
        charger.id, client=client, body=models.ChargingRequest(action=models.ChargingAction.START)
    )
    if not isinstance(action, models.ActionResponse):
        fail(f"control_charger_charging: {action}")
    if not isinstance(action.state, models.ActionState) or not isinstance(action.kind, models.ActionKind):
        fail(f"action state/kind are not the generated enums: {action.state!r} {action.kind!r}")
    again = api("actions.get_action").sync(action.id, client=client)
    if not isinstance(again, models.ActionResponse) or again.id != action.id:
        fail(f"get_action: {again}")

    location = api("locations.create_location").sync(
        "smoke-user", client=client,
        body=models.LocationRequest(name="Home", latitude=59.91, longitude=10.75, timezone_name="Europe/Oslo"),
    )
    if not isinstance(location, models.LocationResponse):
        fail(f"create_location: {location}")

    # A value the document does not allow: the answer is the documented problem, with the field.
    bad = client.get_httpx_client().post(f"/chargers/{charger.id}/charging", json={"action": "PAUSE"})
    problem = models.Problem.from_dict(bad.json())
    if bad.status_code != 422 or problem.status != 422:
        fail(f"a bad action answered {bad.status_code}: {bad.text}")
    print("smoke flow ok")


if __name__ == "__main__":
    main()
