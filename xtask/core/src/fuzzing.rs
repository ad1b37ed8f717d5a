//! What the fuzz targets in `fuzz/` check, here so that a unit test runs the same checks
//! on stable (seeds and random mutations of them) and CI keeps the harness honest.
//! `scripts/fuzz.sh` runs the targets under libFuzzer for a set time.

use crate::config::Config;

/// Any bytes as deploy.toml: parsing never panics; a config that parses expands every
/// name of every environment.
pub fn deploy_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse("deploy.toml", text) else {
        return;
    };
    for env in config.environment_names() {
        let names = config.names(env);
        let _ = (names.cluster(), names.state_bucket());
        for service in &config.services {
            let _ = (
                names.ecs_service(service),
                names.ecr_repository(service),
                names.migration_family(service),
                names.service_url(service),
            );
        }
        for app in &config.apps {
            let _ = names.bucket(app);
        }
    }
}

/// `seed` with one to seven random byte edits: a byte replaced by any byte, a byte removed,
/// or one of `alphabet` inserted (the characters that matter to the format under test).
/// Used by the unit tests that run the fuzz checks on stable, here and in xtask-sql.
pub fn mutate(rng: &mut fastrand::Rng, seed: &[u8], alphabet: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..rng.usize(1..8) {
        let at = rng.usize(..bytes.len().max(1));
        match rng.u8(..3) {
            0 if at < bytes.len() => bytes[at] = rng.u8(..),
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.insert(at.min(bytes.len()), alphabet[rng.usize(..alphabet.len())]),
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    /// The seed the fuzz script starts from, then random byte mutations of it.
    #[test]
    fn the_fuzz_checks_hold_on_seeds_and_mutations() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let seed = std::fs::read(root.join("deploy.toml")).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        super::deploy_toml(&seed);
        for _ in 0..3_000 {
            super::deploy_toml(&super::mutate(&mut rng, &seed, b"[]=\"'{};-\n*/(),"));
        }
    }
}
