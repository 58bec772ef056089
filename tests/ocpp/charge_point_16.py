"""An OCPP 1.6J charge point for Coupler's conformance tests, built on the independent `ocpp`
package, which checks every message in both directions against the official JSON schemas.

The test drives it through standard input, one JSON object per line:
  {"cmd": "call", "action": "BootNotification", "args": {...}}  send a call (args in snake_case)
  {"cmd": "set", "key": "...", "value": ...}                    change how it answers Coupler
  {"cmd": "close"}                                             close the connection and exit
and reads what happens on standard output, one JSON object per line:
  {"event": "connected", "subprotocol": "ocpp1.6"}
  {"event": "result", "action": ..., "payload": {...}}         the answer to a call it sent
  {"event": "call_error", "action": ..., "error": "..."}       its call was answered with an error
  {"event": "received", "action": ..., "payload": {...}}       Coupler sent it a (valid) call
  {"event": "closed", "code": ..., "reason": ...}

It behaves like a charger: a remote start it accepts is followed by StartTransaction, a Charging
status and meter values; a remote stop by StopTransaction and a Finishing status.
"""

from harness import emit, now, run
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action


class Charger(ChargePoint):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.behaviour = {
            "remote_start": "accept",  # accept | reject | accept_without_charging
            "remote_stop": "accept",  # accept | reject | accept_without_stopping
            "charging_profile": "accept",  # accept | reject
            "composite_schedule": "accept",  # accept | reject
        }
        self.meter_wh = 1000
        self.transaction_id = None
        self.limit = None
        self.status = "Available"

    def before_call(self, action, args):
        if action == "StatusNotification" and args.get("connector_id") == 1:
            # Remembered so a triggered StatusNotification repeats what the test last reported.
            self.status = args["status"]

    def after_call(self, action, result):
        # A transaction the test starts or stops is the charger's own, as one it starts itself.
        if action == "StartTransaction":
            self.transaction_id = result.transaction_id
        elif action == "StopTransaction":
            self.transaction_id = None

    async def send(self, action, **args):
        return await self.call(getattr(call, action)(**args), suppress=False)

    async def set_status(self, status, connector_id=1):
        self.status = status
        await self.send("StatusNotification", connector_id=connector_id, error_code="NoError", status=status)

    async def begin_transaction(self, id_tag):
        started = await self.send(
            "StartTransaction", connector_id=1, id_tag=id_tag, meter_start=self.meter_wh, timestamp=now()
        )
        self.transaction_id = started.transaction_id
        emit("transaction_started", transaction_id=self.transaction_id)
        if self.behaviour["remote_start"] == "accept_without_charging":
            await self.set_status("SuspendedEV")
            return
        await self.set_status("Charging")
        self.meter_wh += 500
        current = self.limit if self.limit is not None else 16
        await self.send(
            "MeterValues",
            connector_id=1,
            transaction_id=self.transaction_id,
            meter_value=[
                {
                    "timestamp": now(),
                    "sampledValue": [
                        {"value": str(self.meter_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                        {"value": str(round(current * 230 * 3)), "measurand": "Power.Active.Import", "unit": "W"},
                        {"value": str(current), "measurand": "Current.Import", "unit": "A", "phase": "L1"},
                    ],
                }
            ],
        )

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag, **kwargs):
        emit("received", action="RemoteStartTransaction", payload={"id_tag": id_tag, **kwargs})
        status = "Rejected" if self.behaviour["remote_start"] == "reject" else "Accepted"
        return call_result.RemoteStartTransaction(status=status)

    @after(Action.remote_start_transaction)
    async def after_remote_start(self, id_tag, **kwargs):
        if self.behaviour["remote_start"] != "reject":
            await self.begin_transaction(id_tag)

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id):
        emit("received", action="RemoteStopTransaction", payload={"transaction_id": transaction_id})
        accepted = self.behaviour["remote_stop"] != "reject" and transaction_id == self.transaction_id
        return call_result.RemoteStopTransaction(status="Accepted" if accepted else "Rejected")

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id):
        if self.behaviour["remote_stop"] == "accept" and transaction_id == self.transaction_id:
            self.meter_wh += 250
            await self.send(
                "StopTransaction",
                meter_stop=self.meter_wh,
                timestamp=now(),
                transaction_id=transaction_id,
                reason="Remote",
            )
            self.transaction_id = None
            await self.set_status("Finishing")

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, connector_id, cs_charging_profiles):
        emit("received", action="SetChargingProfile", payload={"connector_id": connector_id, "cs_charging_profiles": cs_charging_profiles})
        if self.behaviour["charging_profile"] != "accept":
            return call_result.SetChargingProfile(status="Rejected")
        periods = cs_charging_profiles["charging_schedule"]["charging_schedule_period"]
        self.limit = float(periods[0]["limit"])
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs):
        emit("received", action="ClearChargingProfile", payload=kwargs)
        self.limit = None
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, connector_id, duration, **kwargs):
        emit("received", action="GetCompositeSchedule", payload={"connector_id": connector_id, "duration": duration, **kwargs})
        if self.behaviour["composite_schedule"] != "accept" or self.limit is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=now(),
            charging_schedule={
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": self.limit}],
            },
        )

    @on(Action.get_configuration)
    async def on_get_configuration(self, **kwargs):
        emit("received", action="GetConfiguration", payload=kwargs)
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": "MeterValueSampleInterval", "readonly": False, "value": "300"},
                {"key": "MeterValuesSampledData", "readonly": False, "value": "Energy.Active.Import.Register"},
                {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,SmartCharging,RemoteTrigger"},
            ]
        )

    @on(Action.change_configuration)
    async def on_change_configuration(self, key, value):
        emit("received", action="ChangeConfiguration", payload={"key": key, "value": value})
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.reset)
    async def on_reset(self, type):
        emit("received", action="Reset", payload={"type": type})
        return call_result.Reset(status="Accepted")

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id, type):
        emit("received", action="ChangeAvailability", payload={"connector_id": connector_id, "type": type})
        return call_result.ChangeAvailability(status="Accepted")

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id):
        emit("received", action="UnlockConnector", payload={"connector_id": connector_id})
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message, **kwargs):
        emit("received", action="TriggerMessage", payload={"requested_message": requested_message, **kwargs})
        supported = requested_message in ("StatusNotification", "Heartbeat")
        return call_result.TriggerMessage(status="Accepted" if supported else "NotImplemented")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, **kwargs):
        if requested_message == "StatusNotification":
            await self.set_status(self.status)


if __name__ == "__main__":
    run(Charger, "ocpp1.6")
