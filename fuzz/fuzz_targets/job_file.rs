//! The job-file parser on any text, as YAML and as JSON: it may refuse, never panic.
#![no_main]

use gantry_protocol::JobSpec;
use gantry_protocol::job::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for format in [Format::Yaml, Format::Json] {
            if let Ok(spec) = JobSpec::parse(text, format) {
                // What parses must read back the same through the wire form.
                let wire = serde_json_roundtrip(&spec);
                assert_eq!(
                    wire.as_ref(),
                    Some(&spec),
                    "a parsed job changed on the wire"
                );
            }
        }
    }
});

fn serde_json_roundtrip(spec: &JobSpec) -> Option<JobSpec> {
    let json = serde_json::to_string(spec).ok()?;
    JobSpec::parse(&json, Format::Json).ok()
}
