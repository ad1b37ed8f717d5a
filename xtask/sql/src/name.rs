//! Migration file names: `NNN_description.sql`, the version the runner orders them by
//! and the description it records.

/// A migration's version and description from its file name.
pub fn parse_name(file: &str) -> Result<(u32, &str), String> {
    let bad = || {
        format!("`{file}` is not named `NNN_description.sql` (three or more digits, then lowercase words joined by `_`)")
    };
    let stem = file.strip_suffix(".sql").ok_or_else(bad)?;
    let (digits, description) = stem.split_once('_').ok_or_else(bad)?;
    let ok_digits = digits.len() >= 3 && digits.bytes().all(|b| b.is_ascii_digit());
    let ok_words = !description.is_empty()
        && description
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok_digits || !ok_words {
        return Err(bad());
    }
    let version = digits.parse().map_err(|_| bad())?;
    Ok((version, description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_a_number_and_a_snake_case_description() {
        assert_eq!(parse_name("001_create_items.sql"), Ok((1, "create_items")));
        for bad in [
            "1_x.sql",
            "001-x.sql",
            "001_X.sql",
            "001_.sql",
            "abc_x.sql",
            "001_x.txt",
        ] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
    }
}
