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
status and meter values; a remote stop by StopTransaction and a Finishing status. It answers the
back-office operations too: it keeps a local authorisation list when `set` says so (SendLocalList,
GetLocalListVersion); an UpdateFirmware it accepts is followed by the firmware statuses to the
end (Downloading, Downloaded, Installing, Installed, or a failure, as `set` says), a GetDiagnostics
by Uploading and Uploaded (or UploadFailed), a ReserveNow it accepts by a Reserved status and a
CancelReservation by an Available one; a TriggerMessage it accepts is followed by the message.

It speaks the security extension too: it keeps the root certificates InstallCertificate gives it
(GetInstalledCertificateIds lists them, DeleteCertificate removes them), a GetLog is followed by
LogStatusNotifications (with the request's requestId), a SignedUpdateFirmware by
SignedFirmwareStatusNotifications, and an ExtendedTriggerMessage it accepts by the message (a
SignChargePointCertificate by a SignCertificate carrying the request `set` gave it as `csr`).
The hash data it reports is derived from the certificate's bytes with the algorithm `set` names:
a real charger hashes the issuer's name and key, which only the charger side needs to get right.
"""

import base64
import hashlib

from harness import emit, now, plain, run
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
            "firmware": "install",  # install | download_fail | install_fail | silent
            "diagnostics": "upload",  # upload | fail | silent | empty (nothing to upload)
            "reservation": "Accepted",  # Accepted | Occupied | Faulted | Unavailable | Rejected
            "clear_cache": "Accepted",  # Accepted | Rejected
            "certificate_signed": "Accepted",  # Accepted | Rejected
            "data_transfer": "Accepted",  # Accepted | Rejected | UnknownMessageId | UnknownVendorId
            "unlock": "Unlocked",  # Unlocked | UnlockFailed | NotSupported
            "reset": "Accepted",  # Accepted | Rejected
            "availability": "Accepted",  # Accepted | Rejected | Scheduled
            "change_configuration": "Accepted",  # Accepted | Rejected | RebootRequired | NotSupported
            "local_list": "off",  # on: declares LocalAuthListManagement and keeps a local list | off
            "send_local_list": "Accepted",  # Accepted | Failed | NotSupported | VersionMismatch
            "install_certificate": "Accepted",  # Accepted | Rejected | Failed
            "delete_certificate": "Accepted",  # Accepted (NotFound when it has no such certificate) | Failed
            "hash_algorithm": "SHA256",  # SHA256 | SHA384 | SHA512: how it reports certificate hash data
            "extended_trigger": "Accepted",  # Accepted | Rejected | NotImplemented
            "log": "upload",  # upload | fail | silent | reject
            "signed_firmware": "install",  # install | invalid_signature | invalid_certificate | silent
            "csr": None,  # the certificate signing request a triggered SignChargePointCertificate sends
        }
        self.certificates = []  # {"type": ..., "hash": {...}}
        self.log_request_id = 0  # the last GetLog's
        self.firmware_request_id = 0  # the last SignedUpdateFirmware's
        self.local_list = {}
        self.local_list_version = 0
        self.reservations = {}
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

    async def send(self, action, /, **args):
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

    def feature_profiles(self):
        profiles = "Core,SmartCharging,RemoteTrigger"
        return profiles + ",LocalAuthListManagement" if self.behaviour["local_list"] == "on" else profiles

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self):
        emit("received", action="GetLocalListVersion", payload={})
        version = self.local_list_version if self.behaviour["local_list"] == "on" else -1
        return call_result.GetLocalListVersion(list_version=version)

    @on(Action.send_local_list)
    async def on_send_local_list(self, list_version, update_type, local_authorization_list=None):
        entries = local_authorization_list or []
        emit("received", action="SendLocalList", payload={"list_version": list_version, "update_type": update_type, "local_authorization_list": entries})
        if self.behaviour["local_list"] != "on":
            return call_result.SendLocalList(status="NotSupported")
        status = self.behaviour["send_local_list"]
        if status == "Accepted":
            if update_type == "Full":
                self.local_list = {}
            for entry in entries:
                if entry.get("id_tag_info"):
                    self.local_list[entry["id_tag"]] = entry["id_tag_info"]
                else:
                    self.local_list.pop(entry["id_tag"], None)
            self.local_list_version = list_version
        return call_result.SendLocalList(status=status)

    @on(Action.get_configuration)
    async def on_get_configuration(self, **kwargs):
        emit("received", action="GetConfiguration", payload=kwargs)
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": "MeterValueSampleInterval", "readonly": False, "value": "300"},
                {"key": "MeterValuesSampledData", "readonly": False, "value": "Energy.Active.Import.Register"},
                {"key": "SupportedFeatureProfiles", "readonly": True, "value": self.feature_profiles()},
            ]
        )

    @on(Action.change_configuration)
    async def on_change_configuration(self, key, value):
        emit("received", action="ChangeConfiguration", payload={"key": key, "value": value})
        return call_result.ChangeConfiguration(status=self.behaviour["change_configuration"])

    @on(Action.reset)
    async def on_reset(self, type):
        emit("received", action="Reset", payload={"type": type})
        return call_result.Reset(status=self.behaviour["reset"])

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id, type):
        emit("received", action="ChangeAvailability", payload={"connector_id": connector_id, "type": type})
        return call_result.ChangeAvailability(status=self.behaviour["availability"])

    @after(Action.change_availability)
    async def after_change_availability(self, connector_id, type):
        if self.behaviour["availability"] == "Accepted" and connector_id in (0, 1):
            await self.set_status("Available" if type == "Operative" else "Unavailable")

    @on(Action.unlock_connector)
    async def on_unlock_connector(self, connector_id):
        emit("received", action="UnlockConnector", payload={"connector_id": connector_id})
        status = self.behaviour["unlock"] if connector_id == 1 else "NotSupported"
        return call_result.UnlockConnector(status=status)

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message, **kwargs):
        emit("received", action="TriggerMessage", payload={"requested_message": requested_message, **kwargs})
        return call_result.TriggerMessage(status="Accepted")

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message, **kwargs):
        await self.send_triggered(requested_message, **kwargs)

    @on(Action.extended_trigger_message)
    async def on_extended_trigger_message(self, requested_message, **kwargs):
        emit("received", action="ExtendedTriggerMessage", payload={"requested_message": requested_message, **kwargs})
        return call_result.ExtendedTriggerMessage(status=self.behaviour["extended_trigger"])

    @after(Action.extended_trigger_message)
    async def after_extended_trigger_message(self, requested_message, **kwargs):
        if self.behaviour["extended_trigger"] != "Accepted":
            return
        # The `ocpp` package needs a requestId on these although the schemas make it optional.
        if requested_message == "LogStatusNotification":
            await self.report("LogStatusNotification", status="Idle", request_id=self.log_request_id)
        elif requested_message == "FirmwareStatusNotification":
            # The extension's firmware status is the signed one.
            await self.report("SignedFirmwareStatusNotification", status="Idle", request_id=self.firmware_request_id)
        elif requested_message == "SignChargePointCertificate":
            if self.behaviour["csr"]:
                await self.report("SignCertificate", csr=self.behaviour["csr"])
        else:
            await self.send_triggered(requested_message, **kwargs)

    async def report(self, action, **args):
        """Sends a call of its own (one a trigger asked for) and tells the test Coupler's answer."""
        try:
            result = await self.send(action, **args)
            emit("sent", action=action, payload=plain(result))
        except Exception as error:
            emit("sent_error", action=action, error=f"{type(error).__name__}: {error}")

    async def send_triggered(self, requested_message, **kwargs):
        if requested_message == "StatusNotification":
            await self.set_status(self.status)
        elif requested_message == "Heartbeat":
            await self.send("Heartbeat")
        elif requested_message == "BootNotification":
            await self.send("BootNotification", charge_point_vendor="PyCharge", charge_point_model="Conformance")
        elif requested_message == "FirmwareStatusNotification":
            await self.send("FirmwareStatusNotification", status="Idle")
        elif requested_message == "DiagnosticsStatusNotification":
            await self.send("DiagnosticsStatusNotification", status="Idle")
        elif requested_message == "MeterValues":
            await self.send(
                "MeterValues",
                connector_id=kwargs.get("connector_id", 1) or 1,
                meter_value=[{"timestamp": now(), "sampledValue": [
                    {"value": str(self.meter_wh), "context": "Trigger", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                ]}],
            )

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain, **kwargs):
        emit("received", action="CertificateSigned", payload={"certificate_chain": certificate_chain, **kwargs})
        return call_result.CertificateSigned(status=self.behaviour["certificate_signed"])

    @on(Action.clear_cache)
    async def on_clear_cache(self):
        emit("received", action="ClearCache", payload={})
        return call_result.ClearCache(status=self.behaviour["clear_cache"])

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, **kwargs):
        emit("received", action="DataTransfer", payload={"vendor_id": vendor_id, **kwargs})
        status = self.behaviour["data_transfer"]
        data = f"echo:{kwargs.get('data', '')}" if status == "Accepted" else None
        return call_result.DataTransfer(status=status, data=data)

    @on(Action.update_firmware)
    async def on_update_firmware(self, location, retrieve_date, **kwargs):
        emit("received", action="UpdateFirmware", payload={"location": location, "retrieve_date": retrieve_date, **kwargs})
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    async def after_update_firmware(self, location, retrieve_date, **kwargs):
        walks = {
            "install": ["Downloading", "Downloaded", "Installing", "Installed"],
            "download_fail": ["Downloading", "DownloadFailed"],
            "install_fail": ["Downloading", "Downloaded", "Installing", "InstallationFailed"],
            "silent": [],
        }
        for status in walks[self.behaviour["firmware"]]:
            await self.send("FirmwareStatusNotification", status=status)

    @on(Action.get_diagnostics)
    async def on_get_diagnostics(self, location, **kwargs):
        emit("received", action="GetDiagnostics", payload={"location": location, **kwargs})
        if self.behaviour["diagnostics"] == "empty":
            return call_result.GetDiagnostics()
        return call_result.GetDiagnostics(file_name="diagnostics-py.zip")

    @after(Action.get_diagnostics)
    async def after_get_diagnostics(self, location, **kwargs):
        walks = {"upload": ["Uploading", "Uploaded"], "fail": ["Uploading", "UploadFailed"], "silent": [], "empty": []}
        for status in walks[self.behaviour["diagnostics"]]:
            await self.send("DiagnosticsStatusNotification", status=status)

    def hash_data(self, certificate):
        body = "".join(line.strip() for line in certificate.splitlines() if line.strip() and not line.startswith("-----"))
        der = base64.b64decode(body)
        algorithm = self.behaviour["hash_algorithm"]
        digest = {"SHA256": hashlib.sha256, "SHA384": hashlib.sha384, "SHA512": hashlib.sha512}[algorithm]
        return {
            "hash_algorithm": algorithm,
            "issuer_name_hash": digest(b"issuer-name:" + der).hexdigest(),
            "issuer_key_hash": digest(b"issuer-key:" + der).hexdigest(),
            "serial_number": hashlib.sha256(der).hexdigest()[:16].lstrip("0") or "1",
        }

    @on(Action.install_certificate)
    async def on_install_certificate(self, certificate_type, certificate):
        emit("received", action="InstallCertificate", payload={"certificate_type": certificate_type, "certificate": certificate})
        status = self.behaviour["install_certificate"]
        if status == "Accepted":
            self.certificates.append({"type": certificate_type, "hash": self.hash_data(certificate)})
        return call_result.InstallCertificate(status=status)

    @on(Action.get_installed_certificate_ids)
    async def on_get_installed_certificate_ids(self, certificate_type):
        emit("received", action="GetInstalledCertificateIds", payload={"certificate_type": certificate_type})
        hashes = [c["hash"] for c in self.certificates if c["type"] == certificate_type]
        if not hashes:
            return call_result.GetInstalledCertificateIds(status="NotFound")
        return call_result.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=hashes)

    @on(Action.delete_certificate)
    async def on_delete_certificate(self, certificate_hash_data):
        emit("received", action="DeleteCertificate", payload={"certificate_hash_data": certificate_hash_data})
        found = next((c for c in self.certificates if c["hash"] == certificate_hash_data), None)
        if found is None:
            return call_result.DeleteCertificate(status="NotFound")
        if self.behaviour["delete_certificate"] != "Accepted":
            return call_result.DeleteCertificate(status=self.behaviour["delete_certificate"])
        self.certificates.remove(found)
        return call_result.DeleteCertificate(status="Accepted")

    @on(Action.get_log)
    async def on_get_log(self, log, log_type, request_id, **kwargs):
        emit("received", action="GetLog", payload={"log": log, "log_type": log_type, "request_id": request_id, **kwargs})
        self.log_request_id = request_id
        if self.behaviour["log"] == "reject":
            return call_result.GetLog(status="Rejected")
        return call_result.GetLog(status="Accepted", filename=f"{log_type}-py.log")

    @after(Action.get_log)
    async def after_get_log(self, log, log_type, request_id, **kwargs):
        walks = {"upload": ["Uploading", "Uploaded"], "fail": ["Uploading", "UploadFailure"], "silent": [], "reject": []}
        for status in walks[self.behaviour["log"]]:
            await self.send("LogStatusNotification", status=status, request_id=request_id)

    @on(Action.signed_update_firmware)
    async def on_signed_update_firmware(self, request_id, firmware, **kwargs):
        emit("received", action="SignedUpdateFirmware", payload={"request_id": request_id, "firmware": firmware, **kwargs})
        self.firmware_request_id = request_id
        refused = self.behaviour["signed_firmware"] == "invalid_certificate"
        return call_result.SignedUpdateFirmware(status="InvalidCertificate" if refused else "Accepted")

    @after(Action.signed_update_firmware)
    async def after_signed_update_firmware(self, request_id, firmware, **kwargs):
        walks = {
            "install": ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"],
            "invalid_signature": ["Downloading", "Downloaded", "InvalidSignature"],
            "invalid_certificate": [],
            "silent": [],
        }
        for status in walks[self.behaviour["signed_firmware"]]:
            await self.send("SignedFirmwareStatusNotification", status=status, request_id=request_id)

    @on(Action.reserve_now)
    async def on_reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, **kwargs):
        emit("received", action="ReserveNow", payload={"connector_id": connector_id, "expiry_date": expiry_date, "id_tag": id_tag, "reservation_id": reservation_id, **kwargs})
        status = self.behaviour["reservation"]
        if status == "Accepted":
            self.reservations[reservation_id] = {"connector_id": connector_id, "id_tag": id_tag}
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    async def after_reserve_now(self, connector_id, reservation_id, **kwargs):
        if reservation_id in self.reservations:
            await self.set_status("Reserved", connector_id=connector_id or 1)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id):
        emit("received", action="CancelReservation", payload={"reservation_id": reservation_id})
        known = self.reservations.pop(reservation_id, None)
        self.cancelled = known
        return call_result.CancelReservation(status="Accepted" if known else "Rejected")

    @after(Action.cancel_reservation)
    async def after_cancel_reservation(self, reservation_id):
        if getattr(self, "cancelled", None):
            await self.set_status("Available", connector_id=self.cancelled["connector_id"] or 1)


if __name__ == "__main__":
    run(Charger, "ocpp1.6")
