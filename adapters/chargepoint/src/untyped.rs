//! Messages read and written as JSON checked here by the rules of their official schemas, not
//! through `coupler-ocpp`'s types (which came to cover most of them later): in 1.6 the LocalAuthListManagement profile (SendLocalList,
//! GetLocalListVersion) and the security extension (ExtendedTriggerMessage, CertificateSigned,
//! InstallCertificate, GetInstalledCertificateIds, DeleteCertificate, SignedUpdateFirmware,
//! GetLog, and the charge point's SecurityEventNotification, SignCertificate,
//! LogStatusNotification and SignedFirmwareStatusNotification); in 2.0.1 SendLocalList,
//! GetLocalListVersion, the certificate messages, CustomerInformation and the station's
//! SignCertificate and NotifyCustomerInformation.
//!
//! Refusals use the same schema-rule-to-error-code mapping as `coupler-ocpp` (see its `error`
//! module): a missing field is an occurrence violation, a wrong type or too long a string a type
//! violation, a value outside an enumeration a property violation, an unknown field or a payload
//! that is not an object a format violation.

use chrono::{DateTime, Utc};
use coupler_ocpp::{ErrorCode, ValidationError};
use serde_json::{json, Map, Value};

use crate::machine::{AuthEntry, ChargePoint, JobKind, Moment, Out};
use crate::settings;
use crate::v16;

/// A JSON object being read, with the path to it for refusals.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

fn at_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl<'a> Fields<'a> {
    /// `value` as an object that holds no field but `allowed` (2.0.1 objects may carry
    /// `customData` besides).
    fn of(value: &'a Value, path: &str, allowed: &[&str]) -> Result<Self, ValidationError> {
        let Some(map) = value.as_object() else {
            return Err(ValidationError::new(
                ErrorCode::FormatViolation,
                path,
                "is not a JSON object",
            ));
        };
        if let Some(extra) = map
            .keys()
            .find(|k| !allowed.contains(&k.as_str()) && k.as_str() != "customData")
        {
            return Err(ValidationError::new(
                ErrorCode::FormatViolation,
                at_path(path, extra),
                "is not a field of this message",
            ));
        }
        Ok(Self {
            map,
            path: path.to_owned(),
        })
    }

    fn path(&self, key: &str) -> String {
        at_path(&self.path, key)
    }

    fn missing(&self, key: &str) -> ValidationError {
        ValidationError::new(ErrorCode::OccurrenceConstraintViolation, self.path(key), "is required")
    }

    fn wrong_type(&self, key: &str, expected: &str) -> ValidationError {
        ValidationError::new(
            ErrorCode::TypeConstraintViolation,
            self.path(key),
            format!("must be {expected}"),
        )
    }

    fn text(&self, key: &str, max: usize) -> Result<Option<&'a str>, ValidationError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(text)) if text.chars().count() <= max => Ok(Some(text)),
            Some(Value::String(_)) => Err(self.wrong_type(key, &format!("a string of at most {max} characters"))),
            Some(_) => Err(self.wrong_type(key, "a string")),
        }
    }

    fn required_text(&self, key: &str, max: usize) -> Result<&'a str, ValidationError> {
        self.text(key, max)?.ok_or_else(|| self.missing(key))
    }

    fn integer(&self, key: &str) -> Result<Option<i32>, ValidationError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.wrong_type(key, "a 32-bit integer")),
        }
    }

    fn required_integer(&self, key: &str) -> Result<i32, ValidationError> {
        self.integer(key)?.ok_or_else(|| self.missing(key))
    }

    fn required_bool(&self, key: &str) -> Result<bool, ValidationError> {
        match self.map.get(key) {
            None => Err(self.missing(key)),
            Some(value) => value.as_bool().ok_or_else(|| self.wrong_type(key, "a boolean")),
        }
    }

    fn date(&self, key: &str) -> Result<Option<DateTime<Utc>>, ValidationError> {
        match self.text(key, 64)? {
            None => Ok(None),
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map(|d| Some(d.with_timezone(&Utc)))
                .map_err(|_| self.wrong_type(key, "an RFC 3339 date-time")),
        }
    }

    fn required_date(&self, key: &str) -> Result<DateTime<Utc>, ValidationError> {
        self.date(key)?.ok_or_else(|| self.missing(key))
    }

    fn one_of(&self, key: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, ValidationError> {
        match self.text(key, 64)? {
            None => Ok(None),
            Some(text) => allowed.iter().find(|a| **a == text).copied().map(Some).ok_or_else(|| {
                ValidationError::new(
                    ErrorCode::PropertyConstraintViolation,
                    self.path(key),
                    format!("must be one of {}", allowed.join(", ")),
                )
            }),
        }
    }

    fn required_one_of(&self, key: &str, allowed: &[&'static str]) -> Result<&'static str, ValidationError> {
        self.one_of(key, allowed)?.ok_or_else(|| self.missing(key))
    }

    fn object(&self, key: &str, allowed: &[&str]) -> Result<Option<Fields<'a>>, ValidationError> {
        self.map
            .get(key)
            .map(|value| Fields::of(value, &self.path(key), allowed))
            .transpose()
    }

    fn required_object(&self, key: &str, allowed: &[&str]) -> Result<Fields<'a>, ValidationError> {
        self.object(key, allowed)?.ok_or_else(|| self.missing(key))
    }

    fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ValidationError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(self.wrong_type(key, "an array")),
        }
    }
}

/// One entry of a SendLocalList: the id tag, and its status (`None`: remove it).
type ListEntry = (String, Option<AuthEntry>);

/// Applies a SendLocalList: the status word to answer.
fn send_local_list(cp: &mut ChargePoint, version: i32, full: bool, entries: Vec<ListEntry>) -> &'static str {
    let per_message = usize::try_from(cp.settings.number(settings::SEND_LOCAL_LIST_MAX)).unwrap_or(usize::MAX);
    let most = usize::try_from(cp.settings.number(settings::LOCAL_LIST_MAX)).unwrap_or(usize::MAX);
    if entries.len() > per_message || version < 0 {
        return "Failed";
    }
    if !full && version <= cp.local_list_version {
        return "VersionMismatch";
    }
    let mut list = if full {
        Default::default()
    } else {
        cp.local_list.clone()
    };
    for (tag, entry) in entries {
        match entry {
            Some(entry) => {
                list.insert(tag, entry);
            }
            None => {
                list.remove(&tag);
            }
        }
    }
    if list.len() > most {
        return "Failed";
    }
    cp.local_list = list;
    cp.local_list_version = version;
    "Accepted"
}

/// The version GetLocalListVersion reports: -1 when lists are off, 0 for an empty list.
fn local_list_version(cp: &ChargePoint) -> i32 {
    if !cp.settings.flag(settings::LOCAL_LIST_ENABLED) {
        -1
    } else if cp.local_list.is_empty() {
        0
    } else {
        cp.local_list_version
    }
}

const HASH_FIELDS: &[&str] = &["hashAlgorithm", "issuerNameHash", "issuerKeyHash", "serialNumber"];

/// Reads certificate hash data, as DeleteCertificate names a certificate.
fn hash_data(fields: &Fields<'_>) -> Result<Value, ValidationError> {
    Ok(json!({
        "hashAlgorithm": fields.required_one_of("hashAlgorithm", &["SHA256", "SHA384", "SHA512"])?,
        "issuerNameHash": fields.required_text("issuerNameHash", 128)?,
        "issuerKeyHash": fields.required_text("issuerKeyHash", 128)?,
        "serialNumber": fields.required_text("serialNumber", 40)?,
    }))
}

/// Deletes the certificate `hash` names: the status word to answer.
fn delete_certificate(cp: &mut ChargePoint, hash: &Value) -> &'static str {
    let Some(index) = cp.certificates.iter().position(|c| c.hash_data() == *hash) else {
        return "NotFound";
    };
    // The charge point's own certificate cannot go: it would have none to connect with.
    if cp.certificates[index].kind.ends_with("PointCertificate")
        || cp.certificates[index].kind == "ChargingStationCertificate"
    {
        return "Failed";
    }
    cp.certificates.remove(index);
    "Accepted"
}

fn accepted_if(ok: bool, refused: &'static str) -> &'static str {
    if ok {
        "Accepted"
    } else {
        refused
    }
}

/// Answers a 1.6 call `coupler-ocpp` does not type; `None` for any other action.
pub(crate) fn answer16(
    cp: &mut ChargePoint,
    action: &str,
    payload: &Value,
    at: Moment,
) -> Option<Result<Value, ValidationError>> {
    let answered = match action {
        "SendLocalList" => (|| {
            let fields = Fields::of(payload, "", &["listVersion", "localAuthorizationList", "updateType"])?;
            let version = fields.required_integer("listVersion")?;
            let full = fields.required_one_of("updateType", &["Differential", "Full"])? == "Full";
            let mut entries = Vec::new();
            for (i, item) in fields
                .array("localAuthorizationList")?
                .into_iter()
                .flatten()
                .enumerate()
            {
                let item = Fields::of(item, &format!("localAuthorizationList[{i}]"), &["idTag", "idTagInfo"])?;
                let tag = item.required_text("idTag", 20)?.to_owned();
                let info = item.object("idTagInfo", &["expiryDate", "parentIdTag", "status"])?;
                let entry = match info {
                    Some(info) => {
                        info.text("parentIdTag", 20)?;
                        Some(AuthEntry {
                            status: info
                                .required_one_of(
                                    "status",
                                    &["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"],
                                )?
                                .to_owned(),
                            expires_at: info.date("expiryDate")?,
                        })
                    }
                    None => None,
                };
                entries.push((tag, entry));
            }
            let status = if cp.settings.flag(settings::LOCAL_LIST_ENABLED) {
                send_local_list(cp, version, full, entries)
            } else {
                "NotSupported"
            };
            Ok(json!({ "status": status }))
        })(),
        "GetLocalListVersion" => Fields::of(payload, "", &[]).map(|_| json!({ "listVersion": local_list_version(cp) })),
        "ExtendedTriggerMessage" => (|| {
            let fields = Fields::of(payload, "", &["requestedMessage", "connectorId"])?;
            let message = fields.required_one_of(
                "requestedMessage",
                &[
                    "BootNotification",
                    "LogStatusNotification",
                    "FirmwareStatusNotification",
                    "Heartbeat",
                    "MeterValues",
                    "SignChargePointCertificate",
                    "StatusNotification",
                ],
            )?;
            let connector = fields.integer("connectorId")?;
            // The extension's firmware status is the signed one.
            let status = if message == "FirmwareStatusNotification" {
                let status = cp.firmware_status;
                cp.queue_once(Out::JobStatus {
                    kind: JobKind::SignedFirmware,
                    status,
                    request_id: None,
                });
                Some(true)
            } else {
                v16::trigger(cp, message, connector)
            };
            Ok(json!({ "status": match status {
                Some(true) => "Accepted",
                Some(false) => "Rejected",
                None => "NotImplemented",
            }}))
        })(),
        "CertificateSigned" => (|| {
            let fields = Fields::of(payload, "", &["certificateChain"])?;
            let chain = fields.required_text("certificateChain", 10_000)?;
            let installed = cp.install_certificate("ChargePointCertificate", chain);
            Ok(json!({ "status": accepted_if(installed, "Rejected") }))
        })(),
        "InstallCertificate" => (|| {
            let fields = Fields::of(payload, "", &["certificateType", "certificate"])?;
            let kind = fields.required_one_of(
                "certificateType",
                &["CentralSystemRootCertificate", "ManufacturerRootCertificate"],
            )?;
            let pem = fields.required_text("certificate", 5500)?;
            let store_full =
                cp.certificates.len() >= usize::try_from(cp.settings.number("CertificateStoreMaxLength")).unwrap_or(10);
            let status = if store_full {
                "Failed"
            } else {
                accepted_if(cp.install_certificate(kind, pem), "Rejected")
            };
            Ok(json!({ "status": status }))
        })(),
        "GetInstalledCertificateIds" => (|| {
            let fields = Fields::of(payload, "", &["certificateType"])?;
            let kind = fields.required_one_of(
                "certificateType",
                &["CentralSystemRootCertificate", "ManufacturerRootCertificate"],
            )?;
            let hashes: Vec<Value> = cp
                .certificates
                .iter()
                .filter(|c| c.kind == kind)
                .map(crate::machine::Certificate::hash_data)
                .collect();
            Ok(if hashes.is_empty() {
                json!({ "status": "NotFound" })
            } else {
                json!({ "status": "Accepted", "certificateHashData": hashes })
            })
        })(),
        "DeleteCertificate" => (|| {
            let fields = Fields::of(payload, "", &["certificateHashData"])?;
            let hash = hash_data(&fields.required_object("certificateHashData", HASH_FIELDS)?)?;
            Ok(json!({ "status": delete_certificate(cp, &hash) }))
        })(),
        "SignedUpdateFirmware" => (|| {
            let fields = Fields::of(payload, "", &["retries", "retryInterval", "requestId", "firmware"])?;
            fields.integer("retries")?;
            fields.integer("retryInterval")?;
            let request_id = fields.required_integer("requestId")?;
            let firmware = fields.required_object(
                "firmware",
                &[
                    "location",
                    "retrieveDateTime",
                    "installDateTime",
                    "signingCertificate",
                    "signature",
                ],
            )?;
            firmware.required_text("location", 512)?;
            firmware.required_date("retrieveDateTime")?;
            firmware.date("installDateTime")?;
            let certificate = firmware.required_text("signingCertificate", 5500)?;
            firmware.required_text("signature", 800)?;
            if !certificate.trim_start().starts_with("-----BEGIN CERTIFICATE-----") {
                cp.push(Out::SecurityEvent("InvalidFirmwareSigningCertificate"));
                return Ok(json!({ "status": "InvalidCertificate" }));
            }
            let replaces = cp.job_running(false);
            cp.start_job(
                at,
                JobKind::SignedFirmware,
                &[
                    "Downloading",
                    "Downloaded",
                    "SignatureVerified",
                    "Installing",
                    "Installed",
                ],
                Some(request_id),
            );
            Ok(json!({ "status": if replaces { "AcceptedCanceled" } else { "Accepted" } }))
        })(),
        "GetLog" => (|| {
            let fields = Fields::of(
                payload,
                "",
                &["logType", "requestId", "retries", "retryInterval", "log"],
            )?;
            let kind = fields.required_one_of("logType", &["DiagnosticsLog", "SecurityLog"])?;
            let request_id = fields.required_integer("requestId")?;
            fields.integer("retries")?;
            fields.integer("retryInterval")?;
            let log = fields.required_object("log", &["remoteLocation", "oldestTimestamp", "latestTimestamp"])?;
            log.required_text("remoteLocation", 512)?;
            log.date("oldestTimestamp")?;
            log.date("latestTimestamp")?;
            let replaces = cp.job_running(true);
            cp.start_job(at, JobKind::Log, &["Uploading", "Uploaded"], Some(request_id));
            Ok(json!({
                "status": if replaces { "AcceptedCanceled" } else { "Accepted" },
                "filename": format!("{kind}-{}.log", cp.config.ocpp_id),
            }))
        })(),
        _ => return None,
    };
    Some(answered)
}

/// A certificate signing request, as a charge point that keeps its key to itself sends one.
fn csr(cp: &ChargePoint) -> String {
    use base64::Engine;
    let body =
        base64::engine::general_purpose::STANDARD.encode(format!("CN={},O={}", cp.config.ocpp_id, cp.config.vendor));
    format!("-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----")
}

/// The 1.6 payload of a call `coupler-ocpp` does not type.
pub(crate) fn build16(cp: &ChargePoint, call: &Out, at: Moment) -> Option<(&'static str, Value)> {
    let timestamp = at.wall.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    match call {
        Out::SecurityEvent(kind) => Some((
            "SecurityEventNotification",
            json!({ "type": kind, "timestamp": timestamp }),
        )),
        Out::SignCertificate => Some(("SignCertificate", json!({ "csr": csr(cp) }))),
        Out::JobStatus {
            kind: JobKind::Log,
            status,
            request_id,
        } => Some((
            "LogStatusNotification",
            with_request_id(json!({ "status": status }), *request_id),
        )),
        Out::JobStatus {
            kind: JobKind::SignedFirmware,
            status,
            request_id,
        } => Some((
            "SignedFirmwareStatusNotification",
            with_request_id(json!({ "status": status }), *request_id),
        )),
        _ => None,
    }
}

fn with_request_id(mut payload: Value, request_id: Option<i32>) -> Value {
    if let (Some(id), Some(object)) = (request_id, payload.as_object_mut()) {
        object.insert("requestId".to_owned(), json!(id));
    }
    payload
}

const ID_TOKEN_TYPES: &[&str] = &[
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
];

/// Reads a 2.0.1 IdTokenType: its value.
fn id_token(fields: &Fields<'_>) -> Result<String, ValidationError> {
    fields.required_one_of("type", ID_TOKEN_TYPES)?;
    fields.array("additionalInfo")?;
    Ok(fields.required_text("idToken", 36)?.to_owned())
}

const ROOT_TYPES_201: &[&str] = &[
    "V2GRootCertificate",
    "MORootCertificate",
    "CSMSRootCertificate",
    "V2GCertificateChain",
    "ManufacturerRootCertificate",
];

/// Answers a 2.0.1 call `coupler-ocpp` does not type; `None` for any other action.
pub(crate) fn answer201(cp: &mut ChargePoint, action: &str, payload: &Value) -> Option<Result<Value, ValidationError>> {
    let answered = match action {
        "SendLocalList" => (|| {
            let fields = Fields::of(payload, "", &["versionNumber", "updateType", "localAuthorizationList"])?;
            let version = fields.required_integer("versionNumber")?;
            let full = fields.required_one_of("updateType", &["Differential", "Full"])? == "Full";
            let mut entries = Vec::new();
            for (i, item) in fields
                .array("localAuthorizationList")?
                .into_iter()
                .flatten()
                .enumerate()
            {
                let item = Fields::of(
                    item,
                    &format!("localAuthorizationList[{i}]"),
                    &["idToken", "idTokenInfo"],
                )?;
                let tag = id_token(&item.required_object("idToken", &["idToken", "type", "additionalInfo"])?)?;
                let info = item.object(
                    "idTokenInfo",
                    &[
                        "status",
                        "cacheExpiryDateTime",
                        "chargingPriority",
                        "language1",
                        "evseId",
                        "groupIdToken",
                        "language2",
                        "personalMessage",
                    ],
                )?;
                let entry = match info {
                    Some(info) => Some(AuthEntry {
                        status: info
                            .required_one_of(
                                "status",
                                &[
                                    "Accepted",
                                    "Blocked",
                                    "ConcurrentTx",
                                    "Expired",
                                    "Invalid",
                                    "NoCredit",
                                    "NotAllowedTypeEVSE",
                                    "NotAtThisLocation",
                                    "NotAtThisTime",
                                    "Unknown",
                                ],
                            )?
                            .to_owned(),
                        expires_at: info.date("cacheExpiryDateTime")?,
                    }),
                    None => None,
                };
                entries.push((tag, entry));
            }
            let status = if cp.settings.flag(settings::LOCAL_LIST_ENABLED) {
                send_local_list(cp, version, full, entries)
            } else {
                "Failed"
            };
            Ok(json!({ "status": status }))
        })(),
        "GetLocalListVersion" => {
            Fields::of(payload, "", &[]).map(|_| json!({ "versionNumber": local_list_version(cp).max(0) }))
        }
        "CertificateSigned" => (|| {
            let fields = Fields::of(payload, "", &["certificateChain", "certificateType"])?;
            let chain = fields.required_text("certificateChain", 10_000)?;
            let kind = fields
                .one_of("certificateType", &["ChargingStationCertificate", "V2GCertificate"])?
                .unwrap_or("ChargingStationCertificate");
            Ok(json!({ "status": accepted_if(cp.install_certificate(kind, chain), "Rejected") }))
        })(),
        "InstallCertificate" => (|| {
            let fields = Fields::of(payload, "", &["certificateType", "certificate"])?;
            let kind = fields.required_one_of(
                "certificateType",
                &[
                    "V2GRootCertificate",
                    "MORootCertificate",
                    "CSMSRootCertificate",
                    "ManufacturerRootCertificate",
                ],
            )?;
            let pem = fields.required_text("certificate", 5500)?;
            Ok(json!({ "status": accepted_if(cp.install_certificate(kind, pem), "Rejected") }))
        })(),
        "GetInstalledCertificateIds" => (|| {
            let fields = Fields::of(payload, "", &["certificateType"])?;
            let mut wanted = Vec::new();
            for (i, kind) in fields.array("certificateType")?.into_iter().flatten().enumerate() {
                let kind = kind
                    .as_str()
                    .and_then(|k| ROOT_TYPES_201.iter().find(|t| **t == k))
                    .ok_or_else(|| {
                        ValidationError::new(
                            ErrorCode::PropertyConstraintViolation,
                            format!("certificateType[{i}]"),
                            format!("must be one of {}", ROOT_TYPES_201.join(", ")),
                        )
                    })?;
                wanted.push(*kind);
            }
            let chain: Vec<Value> = cp
                .certificates
                .iter()
                .filter(|c| ROOT_TYPES_201.contains(&c.kind.as_str()))
                .filter(|c| wanted.is_empty() || wanted.contains(&c.kind.as_str()))
                .map(|c| json!({ "certificateType": c.kind, "certificateHashData": c.hash_data() }))
                .collect();
            Ok(if chain.is_empty() {
                json!({ "status": "NotFound" })
            } else {
                json!({ "status": "Accepted", "certificateHashDataChain": chain })
            })
        })(),
        "DeleteCertificate" => (|| {
            let fields = Fields::of(payload, "", &["certificateHashData"])?;
            let hash = hash_data(&fields.required_object("certificateHashData", HASH_FIELDS)?)?;
            Ok(json!({ "status": delete_certificate(cp, &hash) }))
        })(),
        "CustomerInformation" => (|| {
            let fields = Fields::of(
                payload,
                "",
                &[
                    "requestId",
                    "report",
                    "clear",
                    "customerCertificate",
                    "idToken",
                    "customerIdentifier",
                ],
            )?;
            let request_id = fields.required_integer("requestId")?;
            let report = fields.required_bool("report")?;
            let clear = fields.required_bool("clear")?;
            let certificate = fields.object("customerCertificate", HASH_FIELDS)?;
            if let Some(certificate) = &certificate {
                hash_data(certificate)?;
            }
            let token = fields
                .object("idToken", &["idToken", "type", "additionalInfo"])?
                .map(|t| id_token(&t))
                .transpose()?;
            let identifier = fields.text("customerIdentifier", 64)?;
            if certificate.is_none() && token.is_none() && identifier.is_none() {
                return Ok(json!({ "status": "Invalid" }));
            }
            let who = token.clone().or(identifier.map(str::to_owned)).unwrap_or_default();
            if report {
                let cached = cp.auth_cache.get(&who).map(|e| e.status.clone());
                let listed = cp.local_list.get(&who).map(|e| e.status.clone());
                let data = format!(
                    "customer {who}: authorisation cache {}, local list {}",
                    cached.as_deref().unwrap_or("none"),
                    listed.as_deref().unwrap_or("none"),
                );
                cp.push(Out::CustomerInformation { request_id, data });
            }
            if clear {
                cp.auth_cache.remove(&who);
            }
            Ok(json!({ "status": "Accepted" }))
        })(),
        _ => return None,
    };
    Some(answered)
}

/// The 2.0.1 payload of a call `coupler-ocpp` does not type.
pub(crate) fn build201(cp: &ChargePoint, call: &Out, at: Moment) -> Option<(&'static str, Value)> {
    let timestamp = at.wall.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    match call {
        Out::SignCertificate => Some((
            "SignCertificate",
            json!({ "csr": csr(cp), "certificateType": "ChargingStationCertificate" }),
        )),
        Out::CustomerInformation { request_id, data } => Some((
            "NotifyCustomerInformation",
            json!({
                "data": data.chars().take(512).collect::<String>(),
                "seqNo": 0,
                "generatedAt": timestamp,
                "requestId": request_id,
            }),
        )),
        _ => None,
    }
}
