//! Clock skew between this host and the AS: tokens' `iat` / `nbf` / `exp` are judged against the
//! resource server's clock, which allows only [`CLOCK_SKEW_SECS`].

use crate::diagnose::claims::CLOCK_SKEW_SECS;
use crate::diagnose::{Code, Finding};

/// A `clock_skew` finding when the AS's clock (`server`, from its `Date` header) and this host's
/// (`local`) differ by more than the allowed skew; seconds since the epoch.
pub fn check_clock_skew(local: i64, server: i64) -> Option<Finding> {
    let skew = server - local;
    if skew.abs() <= CLOCK_SKEW_SECS {
        return None;
    }
    Some(
        Finding::error(
            Code::ClockSkew,
            format!("the AS's clock is {skew:+} s off this host's"),
            "synchronise the clocks (e.g. `timedatectl set-ntp true`, or restart the Docker VM)",
        )
        .why("tokens minted by the AS look not-yet-valid or expired to a server on this host's clock")
        .compare(format!("within {CLOCK_SKEW_SECS} s"), format!("{skew:+} s")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_beyond_thirty_seconds_is_a_finding_either_way() {
        assert!(check_clock_skew(1_000, 1_030).is_none());
        assert!(check_clock_skew(1_000, 970).is_none());
        let ahead = check_clock_skew(1_000, 1_031).unwrap();
        assert_eq!(ahead.code, Code::ClockSkew);
        assert_eq!(ahead.actual.as_deref(), Some("+31 s"));
        assert_eq!(
            check_clock_skew(1_000, 900).unwrap().actual.as_deref(),
            Some("-100 s")
        );
    }
}
