//! Durations (`500ms`, `30s`, `5m`, `2h`, `1d`) and rates (`5/min`, `20/hour`).

use std::time::Duration;

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{s}` has no unit; write e.g. 500ms, 30s, 5m, 2h"))?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; write e.g. 500ms, 30s, 5m, 2h"))?;
    let too_long = || format!("`{s}` is too long a duration");
    let secs = |per: u64| {
        n.checked_mul(per)
            .map(Duration::from_secs)
            .ok_or_else(too_long)
    };
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => secs(60)?,
        "h" => secs(3600)?,
        "d" => secs(86400)?,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{s}`; use ms, s, m, h or d"
            ))
        }
    };
    if d.is_zero() {
        return Err(format!("`{s}` must be longer than zero"));
    }
    Ok(d)
}

/// `64KiB`, `1MiB`, `4096`, `16KB`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: usize = n
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 64KiB, 1MiB, 4096)"))?;
    let mul = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "kb" | "k" => 1024,
        "mib" | "mb" | "m" => 1024 * 1024,
        _ => return Err(format!("`{s}`: unknown unit (B, KiB, MiB)")),
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// `N/unit` → (N, the period N tokens are spread over).
pub fn parse_rate(s: &str) -> Result<(u32, Duration), String> {
    let (n, unit) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not a rate; write N/s, N/min, N/hour or N/day"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: `{}` is not a whole number", n.trim()))?;
    if n == 0 {
        return Err(format!("`{s}`: the count must be at least 1"));
    }
    let period = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        "d" | "day" => Duration::from_secs(86400),
        other => {
            return Err(format!(
                "unknown rate unit `{other}` in `{s}`; use s, sec, min, hour or day"
            ))
        }
    };
    Ok((n, period))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("999999999999999999d").is_err());
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("2").unwrap_err().contains("no unit"));
        assert!(parse_duration("2w")
            .unwrap_err()
            .contains("unknown duration unit"));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("5/min").unwrap(), (5, Duration::from_secs(60)));
        assert_eq!(
            parse_rate("20/hour").unwrap(),
            (20, Duration::from_secs(3600))
        );
        assert_eq!(parse_rate("3/sec").unwrap(), (3, Duration::from_secs(1)));
        assert_eq!(
            parse_rate("1/day").unwrap(),
            (1, Duration::from_secs(86400))
        );
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("5/fortnight").is_err());
        assert!(parse_rate("five/s").is_err());
        assert!(parse_rate("5").is_err());
    }
}
