"""An OCPP 2.0.1 charging station for Coupler's conformance tests, built on the independent `ocpp`
package (`ocpp.v201`), which checks every message in both directions against the official 2.0.1
JSON schemas.

The test drives it through standard input exactly like charge_point_16.py (one JSON object per
line: {"cmd": "call", "action": ..., "args": {...}} with args in snake_case, {"cmd": "set", ...},
{"cmd": "close"}) and reads the same events on standard output.

It behaves like a station whose transactions start when authorised: a RequestStartTransaction it
accepts is followed by TransactionEvent Started (echoing the remoteStartId) and an Updated event
with meter values; a RequestStopTransaction by TransactionEvent Ended and an Occupied status. When
the test opened a transaction itself (a Started event at plug-in, the cable-first setup), a
RequestStartTransaction authorises that transaction instead (an Updated event with triggerReason
RemoteStart and chargingState Charging). The back-office operations are answered as a station
would: an UpdateFirmware it accepts is followed by FirmwareStatusNotifications to the end (with the
request's requestId), a GetLog by LogStatusNotifications, a ReserveNow by a Reserved status and a
CancelReservation by an Available one; a TriggerMessage it accepts is followed by the message.
It keeps the root certificates InstallCertificate gives it (GetInstalledCertificateIds lists them,
by type or all, DeleteCertificate removes them); `set` "v2g_chain" "on" gives it a
V2GCertificateChain with one sub-CA below it. As the 1.6 charge point does, it derives the hash data
it reports from the certificate's bytes, with the algorithm `set` names.
"""

import base64
import hashlib

from harness import emit, now, run
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action


class Station(ChargePoint):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.behaviour = {
            "remote_start": "accept",  # accept | reject | accept_without_charging
            "remote_stop": "accept",  # accept | reject
            "charging_profile": "accept",  # accept | reject
            "composite_schedule": "accept",  # accept | reject
            "smart_charging": "true",  # SmartChargingCtrlr.Enabled in its device model: true | false
            "firmware": "install",  # install | download_fail | install_fail | silent
            "log": "upload",  # upload | fail | silent
            "reservation": "Accepted",  # Accepted | Occupied | Faulted | Unavailable | Rejected
            "clear_cache": "Accepted",  # Accepted | Rejected
            "certificate_signed": "Accepted",  # Accepted | Rejected
            "data_transfer": "Accepted",  # Accepted | Rejected | UnknownMessageId | UnknownVendorId
            "unlock": "Unlocked",  # Unlocked | UnlockFailed | OngoingAuthorizedTransaction | UnknownConnector
            "reset": "Accepted",  # Accepted | Rejected | Scheduled
            "availability": "Accepted",  # Accepted | Rejected | Scheduled
            "set_variables": "Accepted",  # Accepted | Rejected | UnknownVariable | RebootRequired
            "local_list": "false",  # LocalAuthListCtrlr.Enabled in its device model (true) or no such controller
            "send_local_list": "Accepted",  # Accepted | Failed | VersionMismatch
            "install_certificate": "Accepted",  # Accepted | Rejected | Failed
            "delete_certificate": "Accepted",  # Accepted (NotFound when it has no such certificate) | Failed
            "hash_algorithm": "SHA256",  # SHA256 | SHA384 | SHA512: how it reports certificate hash data
            "v2g_chain": "off",  # on: it keeps a V2GCertificateChain with one sub-CA | off
        }
        self.certificates = []  # {"type": ..., "hash": {...}}
        self.local_list = {}
        self.local_list_version = 0
        self.reservations = {}
        self.meter_wh = 1000
        self.transaction_id = None
        self.transactions = 0
        self.seq_no = 0
        self.limit = None
        self.status = "Available"
        self.variables = {
            ("SampledDataCtrlr", "TxUpdatedInterval"): "300",
            ("SampledDataCtrlr", "TxUpdatedMeasurands"): "Energy.Active.Import.Register",
        }

    def before_call(self, action, args):
        if action == "StatusNotification" and args.get("evse_id") == 1:
            # Remembered so a triggered StatusNotification repeats what the test last reported.
            self.status = args["connector_status"]
        if action == "TransactionEvent":
            # A transaction the test opens itself (cable first: Started at plug-in) is the station's
            # own from then on: a RequestStartTransaction authorises it, and seqNo carries on.
            self.seq_no = args["seq_no"] + 1
            if args["event_type"] == "Started":
                self.transaction_id = args["transaction_info"]["transactionId"]
            elif args["event_type"] == "Ended":
                self.transaction_id = None

    async def send(self, action, /, **args):
        return await self.call(getattr(call, action)(**args), suppress=False)

    async def set_status(self, status, evse_id=1):
        self.status = status
        await self.send(
            "StatusNotification", timestamp=now(), connector_status=status, evse_id=evse_id, connector_id=1
        )

    def next_seq_no(self):
        seq_no = self.seq_no
        self.seq_no += 1
        return seq_no

    def energy(self, context=None):
        value = {"value": self.meter_wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {"unit": "Wh"}}
        if context:
            value["context"] = context
        return value

    async def begin_transaction(self, id_token, remote_start_id):
        self.transactions += 1
        self.transaction_id = f"py-tx-{self.transactions}"
        self.seq_no = 0
        charging = self.behaviour["remote_start"] != "accept_without_charging"
        state = "Charging" if charging else "SuspendedEV"
        await self.send(
            "TransactionEvent",
            event_type="Started",
            timestamp=now(),
            trigger_reason="RemoteStart",
            seq_no=self.next_seq_no(),
            transaction_info={"transactionId": self.transaction_id, "chargingState": state, "remoteStartId": remote_start_id},
            evse={"id": 1, "connectorId": 1},
            id_token=id_token,
            meter_value=[{"timestamp": now(), "sampledValue": [self.energy("Transaction.Begin")]}],
        )
        emit("transaction_started", transaction_id=self.transaction_id)
        if not charging:
            return
        self.meter_wh += 500
        current = self.limit if self.limit is not None else 16
        await self.send(
            "TransactionEvent",
            event_type="Updated",
            timestamp=now(),
            trigger_reason="MeterValuePeriodic",
            seq_no=self.next_seq_no(),
            transaction_info={"transactionId": self.transaction_id, "chargingState": "Charging"},
            meter_value=[
                {
                    "timestamp": now(),
                    "sampledValue": [
                        self.energy(),
                        {"value": round(current * 230 * 3), "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                        {"value": current, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
                    ],
                }
            ],
        )

    @on(Action.request_start_transaction)
    async def on_request_start(self, id_token, remote_start_id, **kwargs):
        emit("received", action="RequestStartTransaction", payload={"id_token": id_token, "remote_start_id": remote_start_id, **kwargs})
        status = "Rejected" if self.behaviour["remote_start"] == "reject" else "Accepted"
        return call_result.RequestStartTransaction(status=status)

    @after(Action.request_start_transaction)
    async def after_request_start(self, id_token, remote_start_id, **kwargs):
        if self.behaviour["remote_start"] == "reject":
            return
        token = {"idToken": id_token["id_token"], "type": id_token["type"]}
        if self.transaction_id is not None:
            await self.authorize_running(token, remote_start_id)
        else:
            await self.begin_transaction(token, remote_start_id)

    async def authorize_running(self, id_token, remote_start_id):
        """A transaction opened at plug-in (cable first) is authorised by the remote start and
        starts charging (2.0.1 F02: the station reports it with triggerReason RemoteStart)."""
        charging = self.behaviour["remote_start"] != "accept_without_charging"
        self.meter_wh += 500
        current = self.limit if self.limit is not None else 16
        await self.send(
            "TransactionEvent",
            event_type="Updated",
            timestamp=now(),
            trigger_reason="RemoteStart",
            seq_no=self.next_seq_no(),
            transaction_info={
                "transactionId": self.transaction_id,
                "chargingState": "Charging" if charging else "SuspendedEV",
                "remoteStartId": remote_start_id,
            },
            id_token=id_token,
            meter_value=[
                {
                    "timestamp": now(),
                    "sampledValue": [
                        self.energy(),
                        {"value": current if charging else 0, "measurand": "Current.Import", "phase": "L1", "unitOfMeasure": {"unit": "A"}},
                    ],
                }
            ],
        )
        emit("transaction_authorized", transaction_id=self.transaction_id)

    @on(Action.request_stop_transaction)
    async def on_request_stop(self, transaction_id, **kwargs):
        emit("received", action="RequestStopTransaction", payload={"transaction_id": transaction_id})
        accepted = self.behaviour["remote_stop"] == "accept" and transaction_id == self.transaction_id
        return call_result.RequestStopTransaction(status="Accepted" if accepted else "Rejected")

    @after(Action.request_stop_transaction)
    async def after_request_stop(self, transaction_id, **kwargs):
        if self.behaviour["remote_stop"] == "accept" and transaction_id == self.transaction_id:
            self.meter_wh += 250
            await self.send(
                "TransactionEvent",
                event_type="Ended",
                timestamp=now(),
                trigger_reason="RemoteStop",
                seq_no=self.next_seq_no(),
                transaction_info={"transactionId": transaction_id, "chargingState": "EVConnected", "stoppedReason": "Remote"},
                meter_value=[{"timestamp": now(), "sampledValue": [self.energy("Transaction.End")]}],
            )
            self.transaction_id = None
            await self.set_status("Occupied")

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id, charging_profile, **kwargs):
        emit("received", action="SetChargingProfile", payload={"evse_id": evse_id, "charging_profile": charging_profile})
        if self.behaviour["charging_profile"] != "accept":
            return call_result.SetChargingProfile(status="Rejected")
        periods = charging_profile["charging_schedule"][0]["charging_schedule_period"]
        self.limit = float(periods[0]["limit"])
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs):
        emit("received", action="ClearChargingProfile", payload=kwargs)
        self.limit = None
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, duration, evse_id, **kwargs):
        emit("received", action="GetCompositeSchedule", payload={"duration": duration, "evse_id": evse_id, **kwargs})
        if self.behaviour["composite_schedule"] != "accept" or self.limit is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evseId": evse_id,
                "duration": duration,
                "scheduleStart": now(),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": self.limit}],
            },
        )

    def device_model(self):
        """Its variables, with whether it takes charging profiles as `set` last said."""
        model = {**self.variables, ("SmartChargingCtrlr", "Enabled"): self.behaviour["smart_charging"]}
        if self.behaviour["local_list"] == "true":
            model[("LocalAuthListCtrlr", "Enabled")] = "true"
        return model

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **kwargs):
        emit("received", action="GetLocalListVersion", payload={})
        return call_result.GetLocalListVersion(version_number=self.local_list_version)

    @on(Action.send_local_list)
    async def on_send_local_list(self, version_number, update_type, local_authorization_list=None, **kwargs):
        entries = local_authorization_list or []
        emit("received", action="SendLocalList", payload={"version_number": version_number, "update_type": update_type, "local_authorization_list": entries})
        status = self.behaviour["send_local_list"]
        if status == "Accepted":
            if update_type == "Full":
                self.local_list = {}
            for entry in entries:
                token = entry["id_token"]["id_token"]
                if entry.get("id_token_info"):
                    self.local_list[token] = entry["id_token_info"]
                else:
                    self.local_list.pop(token, None)
            self.local_list_version = version_number
        return call_result.SendLocalList(status=status)

    @on(Action.get_variables)
    async def on_get_variables(self, get_variable_data, **kwargs):
        emit("received", action="GetVariables", payload={"get_variable_data": get_variable_data})
        results = []
        variables = self.device_model()
        for item in get_variable_data:
            key = (item["component"]["name"], item["variable"]["name"])
            result = {"component": {"name": key[0]}, "variable": {"name": key[1]}}
            if key in variables:
                result.update(attributeStatus="Accepted", attributeValue=variables[key])
            else:
                result.update(attributeStatus="UnknownVariable")
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    async def on_set_variables(self, set_variable_data, **kwargs):
        emit("received", action="SetVariables", payload={"set_variable_data": set_variable_data})
        results = []
        status = self.behaviour["set_variables"]
        for item in set_variable_data:
            key = (item["component"]["name"], item["variable"]["name"])
            if status in ("Accepted", "RebootRequired"):
                self.variables[key] = item["attribute_value"]
            results.append({"attributeStatus": status, "component": {"name": key[0]}, "variable": {"name": key[1]}})
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    async def on_get_base_report(self, request_id, report_base, **kwargs):
        emit("received", action="GetBaseReport", payload={"request_id": request_id, "report_base": report_base})
        return call_result.GetBaseReport(status="Accepted")

    @after(Action.get_base_report)
    async def after_get_base_report(self, request_id, report_base, **kwargs):
        # The report follows in NotifyReport messages, one variable each, the last with tbc false.
        variables = sorted(self.device_model().items())
        for seq_no, ((component, variable), value) in enumerate(variables):
            await self.send(
                "NotifyReport",
                request_id=request_id,
                generated_at=now(),
                seq_no=seq_no,
                tbc=seq_no < len(variables) - 1,
                report_data=[
                    {
                        "component": {"name": component},
                        "variable": {"name": variable},
                        "variableAttribute": [{"type": "Actual", "value": value}],
                    }
                ],
            )

    @on(Action.reset)
    async def on_reset(self, type, **kwargs):
        emit("received", action="Reset", payload={"type": type, **kwargs})
        return call_result.Reset(status=self.behaviour["reset"])

    @on(Action.change_availability)
    async def on_change_availability(self, operational_status, **kwargs):
        emit("received", action="ChangeAvailability", payload={"operational_status": operational_status, **kwargs})
        return call_result.ChangeAvailability(status=self.behaviour["availability"])

    @after(Action.change_availability)
    async def after_change_availability(self, operational_status, **kwargs):
        if self.behaviour["availability"] == "Accepted":
            await self.set_status("Available" if operational_status == "Operative" else "Unavailable")

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, evse_id, connector_id, **kwargs):
        emit("received", action="UnlockConnector", payload={"evse_id": evse_id, "connector_id": connector_id})
        status = self.behaviour["unlock"] if evse_id == 1 else "UnknownConnector"
        return call_result.UnlockConnector(status=status)

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message, **kwargs):
        emit("received", action="TriggerMessage", payload={"requested_message": requested_message, **kwargs})
        supported = requested_message in (
            "StatusNotification", "Heartbeat", "BootNotification", "MeterValues", "FirmwareStatusNotification",
            "LogStatusNotification", "TransactionEvent",
            # Accepted; the test then sends the SignCertificate, with a request for a key it made.
            "SignChargingStationCertificate",
        )
        return call_result.TriggerMessage(status="Accepted" if supported else "NotImplemented")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, **kwargs):
        if requested_message == "StatusNotification":
            await self.set_status(self.status)
        elif requested_message == "Heartbeat":
            await self.send("Heartbeat")
        elif requested_message == "BootNotification":
            await self.send(
                "BootNotification",
                charging_station={"vendor_name": "PyCharge", "model": "Conformance"},
                reason="Triggered",
            )
        elif requested_message == "FirmwareStatusNotification":
            await self.send("FirmwareStatusNotification", status="Idle")
        elif requested_message == "LogStatusNotification":
            await self.send("LogStatusNotification", status="Idle")
        elif requested_message == "MeterValues":
            await self.send(
                "MeterValues",
                evse_id=(kwargs.get("evse") or {}).get("id", 1),
                meter_value=[{"timestamp": now(), "sampledValue": [self.energy("Trigger")]}],
            )
        elif requested_message == "TransactionEvent" and self.transaction_id is not None:
            await self.send(
                "TransactionEvent",
                event_type="Updated",
                timestamp=now(),
                trigger_reason="Trigger",
                seq_no=self.next_seq_no(),
                transaction_info={"transactionId": self.transaction_id, "chargingState": "Charging"},
                meter_value=[{"timestamp": now(), "sampledValue": [self.energy("Trigger")]}],
            )

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain, **kwargs):
        emit("received", action="CertificateSigned", payload={"certificate_chain": certificate_chain, **kwargs})
        return call_result.CertificateSigned(status=self.behaviour["certificate_signed"])

    @on(Action.clear_cache)
    async def on_clear_cache(self, **kwargs):
        emit("received", action="ClearCache", payload={})
        return call_result.ClearCache(status=self.behaviour["clear_cache"])

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, **kwargs):
        emit("received", action="DataTransfer", payload={"vendor_id": vendor_id, **kwargs})
        status = self.behaviour["data_transfer"]
        data = {"echo": kwargs.get("data")} if status == "Accepted" else None
        return call_result.DataTransfer(status=status, data=data)

    @on(Action.update_firmware)
    async def on_update_firmware(self, request_id, firmware, **kwargs):
        emit("received", action="UpdateFirmware", payload={"request_id": request_id, "firmware": firmware, **kwargs})
        return call_result.UpdateFirmware(status="Accepted")

    @after(Action.update_firmware)
    async def after_update_firmware(self, request_id, firmware, **kwargs):
        walks = {
            "install": ["Downloading", "Downloaded", "Installing", "Installed"],
            "download_fail": ["Downloading", "DownloadFailed"],
            "install_fail": ["Downloading", "Downloaded", "Installing", "InstallationFailed"],
            "silent": [],
        }
        for status in walks[self.behaviour["firmware"]]:
            await self.send("FirmwareStatusNotification", status=status, request_id=request_id)

    @on(Action.get_log)
    async def on_get_log(self, log, log_type, request_id, **kwargs):
        emit("received", action="GetLog", payload={"log": log, "log_type": log_type, "request_id": request_id, **kwargs})
        return call_result.GetLog(status="Accepted", filename=f"{log_type}-py.zip")

    @after(Action.get_log)
    async def after_get_log(self, log, log_type, request_id, **kwargs):
        walks = {"upload": ["Uploading", "Uploaded"], "fail": ["Uploading", "UploadFailure"], "silent": []}
        for status in walks[self.behaviour["log"]]:
            await self.send("LogStatusNotification", status=status, request_id=request_id)

    def hash_data(self, der):
        algorithm = self.behaviour["hash_algorithm"]
        digest = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}[algorithm]
        return {
            "hash_algorithm": algorithm,
            "issuer_name_hash": digest(b"issuer-name:" + der).hexdigest(),
            "issuer_key_hash": digest(b"issuer-key:" + der).hexdigest(),
            "serial_number": hashlib.sha256(der).hexdigest()[:16].lstrip("0") or "1",
        }

    def installed(self):
        chain = []
        if self.behaviour["v2g_chain"] == "on":
            chain.append({
                "type": "V2GCertificateChain",
                "hash": self.hash_data(b"v2g-leaf"),
                "children": [self.hash_data(b"v2g-sub-ca")],
            })
        return self.certificates + chain

    @on(Action.install_certificate)
    async def on_install_certificate(self, certificate_type, certificate, **kwargs):
        emit("received", action="InstallCertificate", payload={"certificate_type": certificate_type, "certificate": certificate})
        status = self.behaviour["install_certificate"]
        if status == "Accepted":
            body = "".join(line.strip() for line in certificate.splitlines() if line.strip() and not line.startswith("-----"))
            self.certificates.append({"type": certificate_type, "hash": self.hash_data(base64.b64decode(body))})
        return call_result.InstallCertificate(status=status)

    @on(Action.get_installed_certificate_ids)
    async def on_get_installed_certificate_ids(self, certificate_type=None, **kwargs):
        emit("received", action="GetInstalledCertificateIds", payload={"certificate_type": certificate_type})
        chain = [
            {
                "certificate_type": c["type"],
                "certificate_hash_data": c["hash"],
                **({"child_certificate_hash_data": c["children"]} if c.get("children") else {}),
            }
            for c in self.installed()
            if certificate_type is None or c["type"] in certificate_type
        ]
        if not chain:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data_chain=chain)

    @on(Action.delete_certificate)
    async def on_delete_certificate(self, certificate_hash_data, **kwargs):
        emit("received", action="DeleteCertificate", payload={"certificate_hash_data": certificate_hash_data})
        found = next((c for c in self.certificates if c["hash"] == certificate_hash_data), None)
        if found is None:
            return call_result.DeleteCertificate(status="NotFound")
        if self.behaviour["delete_certificate"] != "Accepted":
            return call_result.DeleteCertificate(status=self.behaviour["delete_certificate"])
        self.certificates.remove(found)
        return call_result.DeleteCertificate(status="Accepted")

    @on(Action.reserve_now)
    async def on_reserve_now(self, id, expiry_date_time, id_token, **kwargs):
        emit("received", action="ReserveNow", payload={"id": id, "expiry_date_time": expiry_date_time, "id_token": id_token, **kwargs})
        status = self.behaviour["reservation"]
        if status == "Accepted":
            self.reservations[id] = {"evse_id": kwargs.get("evse_id"), "id_token": id_token}
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    async def after_reserve_now(self, id, **kwargs):
        if id in self.reservations:
            await self.set_status("Reserved", evse_id=self.reservations[id]["evse_id"] or 1)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id, **kwargs):
        emit("received", action="CancelReservation", payload={"reservation_id": reservation_id})
        self.cancelled = self.reservations.pop(reservation_id, None)
        return call_result.CancelReservation(status="Accepted" if self.cancelled else "Rejected")

    @after(Action.cancel_reservation)
    async def after_cancel_reservation(self, reservation_id, **kwargs):
        if getattr(self, "cancelled", None):
            await self.set_status("Available", evse_id=self.cancelled["evse_id"] or 1)


if __name__ == "__main__":
    run(Station, "ocpp2.0.1")
