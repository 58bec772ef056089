/// The committed `openapi/openapi.json` is what clients generate code from; it must never drift from
/// what the code serves.
#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = coupler_api::openapi().to_pretty_json().unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the code's OpenAPI document. Regenerate it with:\n\n    \
         cargo run -p coupler -- openapi > openapi/openapi.json\n"
    );
}
