//! The flex-event benchmark's whole path, small: Coupler in the benchmark's process, 20 chargers
//! in a fleet process over real WebSockets, a program, enrolments and an event through the API.
//! What must hold is that every charger's own composite schedule showed the cap and Coupler
//! confirmed every target; how fast is the benchmark's business, not this test's.

use std::process::Command;

use serde_json::Value;

#[test]
fn an_event_on_twenty_enrolled_chargers_shows_the_cap_on_every_one_and_every_target_is_confirmed() {
    let output = Command::new(env!("CARGO_BIN_EXE_coupler-flexbench"))
        .args([
            "--chargers",
            "20",
            "--lead-seconds",
            "3",
            "--max-delay-seconds",
            "5",
            "--ramp-seconds",
            "1",
            "--settle-seconds",
            "120",
        ])
        .output()
        .expect("the benchmark runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the benchmark failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("the report is JSON");
    assert_eq!(report["activeEnrolments"], 20, "{report}");
    assert_eq!(report["targets"], 20, "{report}");
    assert_eq!(
        report["capShown"], 20,
        "every charger's schedule showed the cap: {report}"
    );
    assert_eq!(report["capNotShown"], 0, "{report}");
    assert_eq!(report["capShownSeconds"]["count"], 20, "{report}");
    assert_eq!(report["confirmed"], 20, "every target was confirmed: {report}");
    assert_eq!(report["summary"]["CONFIRMED"], 20, "{report}");
    assert_eq!(report["summary"]["FAILED"], 0, "{report}");
    assert_eq!(report["connectFailures"], 0, "{report}");
}
