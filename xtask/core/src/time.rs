//! Time as the tool writes it (the ledger, the locks, the SPA manifests, events): a
//! [`Timestamp`] to the second in UTC, written as RFC 3339, and a compact form that sorts
//! and is safe in a key. One type, so nothing re-parses a string with a fallback.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// A moment to the second: `2026-11-22T10:15:00Z` in every file the tool writes, and read
/// back as the same value. A file with anything else in its place fails to load, naming
/// the value, rather than being read as some other time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::at(SystemTime::now())
    }

    /// `at`, truncated to the second (what the files keep).
    pub fn at(at: SystemTime) -> Timestamp {
        let since = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs()))
    }

    pub fn system_time(self) -> SystemTime {
        self.0
    }

    /// How long after `earlier` this is (zero when it is not after it).
    pub fn since(self, earlier: Timestamp) -> Duration {
        self.0.duration_since(earlier.0).unwrap_or_default()
    }

    /// `20261122T101500Z`: a timestamp that is also a safe, sortable key part.
    pub fn compact(self) -> String {
        self.to_string().replace(['-', ':'], "")
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, by: Duration) -> Timestamp {
        Timestamp::at(self.0 + by)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, by: Duration) -> Timestamp {
        Timestamp::at(self.0 - by)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_seconds(self.0))
    }
}

impl FromStr for Timestamp {
    type Err = humantime::TimestampError;
    fn from_str(text: &str) -> Result<Timestamp, Self::Err> {
        humantime::parse_rfc3339(text).map(Timestamp::at)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|err| {
            serde::de::Error::custom(format!("`{text}` is not an RFC 3339 UTC time: {err}"))
        })
    }
}

/// RFC 3339, UTC, to the second.
pub fn timestamp(at: SystemTime) -> String {
    Timestamp::at(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_are_utc_to_the_second_and_read_back_as_written() {
        let at = Timestamp::at(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_342_500_500));
        assert_eq!(at.to_string(), "2026-11-22T10:15:00Z");
        assert_eq!(at.compact(), "20261122T101500Z");
        let json = serde_json::to_string(&at).unwrap();
        assert_eq!(json, "\"2026-11-22T10:15:00Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), at);
        assert_eq!(
            (at + Duration::from_secs(60)).to_string(),
            "2026-11-22T10:16:00Z"
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_value() {
        let err = serde_json::from_str::<Timestamp>("\"yesterday\"").unwrap_err();
        assert!(
            err.to_string().contains("`yesterday` is not an RFC 3339"),
            "{err}"
        );
    }
}
