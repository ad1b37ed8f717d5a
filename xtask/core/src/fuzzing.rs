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

#[cfg(test)]
mod tests {
    /// The seeds the fuzz script starts from, then random byte mutations of them.
    #[test]
    fn the_fuzz_checks_hold_on_seeds_and_mutations() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let deploy = std::fs::read(root.join("deploy.toml")).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        for (seed, check) in [(deploy, super::deploy_toml as fn(&[u8]))] {
            check(&seed);
            for _ in 0..3_000 {
                let mut bytes = seed.clone();
                for _ in 0..rng.usize(1..8) {
                    let at = rng.usize(..bytes.len());
                    match rng.u8(..3) {
                        0 => bytes[at] = rng.u8(..),
                        1 => {
                            bytes.remove(at);
                        }
                        _ => bytes.insert(at, *b"[]=\"'{};-\n*/(),".get(rng.usize(..15)).unwrap()),
                    }
                }
                check(&bytes);
            }
        }
    }
}
