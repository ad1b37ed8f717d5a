//! Timestamps as the tool writes them (the ledger, the locks, the SPA manifests, events):
//! RFC 3339 in UTC to the second, and a compact form that sorts and is safe in a key.

use std::time::SystemTime;

/// RFC 3339, UTC, to the second.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// `20261122T101500Z`: a timestamp that is also a safe, sortable key part.
pub fn compact_timestamp(at: SystemTime) -> String {
    timestamp(at).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn both_forms_are_utc_to_the_second() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_342_500_500);
        assert_eq!(timestamp(at), "2026-11-22T10:15:00Z");
        assert_eq!(compact_timestamp(at), "20261122T101500Z");
    }
}
