//! Which `[target.<platform>]` tables of a manifest apply to the build target, evaluated
//! the way Cargo selects them (a target name, or a `cfg(..)` expression over the target's
//! configuration), so that a Windows-only dependency is no input of a Linux service.
//!
//! Predicates the target's builtin description settles (`target_os`, `unix`, `target_arch`,
//! ...) and the target features the host build is known to enable are decided; anything
//! else (`debug_assertions`, `feature = ".."`, a `--cfg` flag, another target feature) is
//! unknown, and the expression is evaluated in three-valued logic: a table is left out
//! only when it cannot apply whatever the unknowns are. Erring that way costs a deploy,
//! never misses one.

use anyhow::{anyhow, Result};
use cfg_expr::targets::{get_builtin_target_by_triple, TargetInfo};
use cfg_expr::{Expression, Predicate};

/// The build target as a `[target.*]` table sees it.
#[derive(Debug, Clone, Copy)]
pub struct Platform {
    triple: &'static str,
    info: &'static TargetInfo,
    /// Target features the build enables (rustc's baseline for the triple, and the
    /// `+crt-static` of the static host build).
    features: &'static [&'static str],
}

impl Platform {
    /// The target every Rust service is built for ([`crate::inputs::RUST_TARGET`]), with
    /// the target features `rustc --print cfg -C target-feature=+crt-static` lists for it.
    pub fn host_build() -> Platform {
        Platform::new(
            crate::inputs::RUST_TARGET,
            &["crt-static", "fxsr", "sse", "sse2"],
        )
    }

    fn new(triple: &'static str, features: &'static [&'static str]) -> Platform {
        Platform {
            triple,
            info: get_builtin_target_by_triple(triple)
                .expect("the build target is one of rustc's builtin targets"),
            features,
        }
    }

    pub fn triple(&self) -> &'static str {
        self.triple
    }

    /// Whether the table `[target.<spec>]` can apply to this platform. A malformed `cfg`
    /// is an error, as it is for Cargo.
    pub fn may_apply(&self, spec: &str) -> Result<bool> {
        if !(spec.starts_with("cfg(") && spec.ends_with(')')) {
            return Ok(spec == self.triple);
        }
        let expression =
            Expression::parse(spec).map_err(|err| anyhow!("`[target.'{spec}']`: {err}"))?;
        let value = expression.eval(|predicate| self.predicate(predicate));
        Ok(value != Some(false))
    }

    /// The value of one predicate, `None` when this tool cannot know it.
    fn predicate(&self, predicate: &Predicate<'_>) -> Option<bool> {
        match predicate {
            Predicate::Target(target) => Some(target.matches(self.info)),
            Predicate::TargetFeature(feature) if self.features.contains(feature) => Some(true),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applies(spec: &str) -> bool {
        Platform::host_build().may_apply(spec).unwrap()
    }

    #[test]
    fn target_names_and_settled_cfgs_are_decided() {
        assert!(applies("x86_64-unknown-linux-gnu"));
        assert!(!applies("x86_64-pc-windows-msvc"));
        assert!(applies("cfg(unix)"));
        assert!(applies("cfg(target_os = \"linux\")"));
        assert!(applies("cfg(not(windows))"));
        assert!(applies(
            "cfg(all(target_arch = \"x86_64\", target_env = \"gnu\"))"
        ));
        assert!(applies("cfg(target_feature = \"crt-static\")"));
        assert!(!applies("cfg(windows)"));
        assert!(!applies("cfg(target_os = \"macos\")"));
        assert!(!applies("cfg(any(windows, target_arch = \"wasm32\"))"));
        assert!(!applies("cfg(not(target_feature = \"crt-static\"))"));
    }

    #[test]
    fn unknowns_keep_a_table_unless_it_cannot_apply() {
        // Cargo's own view of these depends on flags and profiles this tool does not see.
        assert!(applies("cfg(debug_assertions)"));
        assert!(applies("cfg(tokio_unstable)"));
        assert!(applies("cfg(target_feature = \"avx2\")"));
        assert!(applies("cfg(not(target_feature = \"avx2\"))"));
        // Whatever the unknown is, a Windows table stays a Windows table.
        assert!(!applies("cfg(all(windows, tokio_unstable))"));
        assert!(applies("cfg(any(windows, tokio_unstable))"));
    }

    #[test]
    fn a_malformed_cfg_is_an_error() {
        let err = Platform::host_build()
            .may_apply("cfg(all(unix)")
            .unwrap_err();
        assert!(err.to_string().contains("cfg(all(unix)"), "{err}");
    }
}
