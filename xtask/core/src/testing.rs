//! What the core's unit tests share: one `deploy.toml` and one way to make a unit's
//! fingerprint, so the planner's and pre-flight's tests describe the same monorepo.

use crate::fingerprint::UnitFingerprint;
use crate::inputs::{Unit, UnitKind};

/// Three services (one with build arguments), one app, one environment on a branch.
pub const CONFIG: &str = r#"
project = "acme"
default_env = "staging"

[environments.staging]
account_id = "111111111111"
region = "eu-west-1"
branch = "main"
service_url = "http://{name}.example"

[services.api]
path = "services/api"
build_args = { PROFILE = "release" }

[services.worker]
path = "services/worker"

[services.jobs]
path = "services/jobs"

[apps.admin]
path = "apps/admin"
build = ["node", "build.mjs"]
"#;

/// A unit of `kind` at `fingerprint`; a service is its own crate.
pub fn unit(name: &str, kind: UnitKind, fingerprint: &str) -> UnitFingerprint {
    let unit = Unit {
        name: name.into(),
        kind,
        own_crate: (kind == UnitKind::Service).then(|| name.into()),
        dockerfile: None,
    };
    UnitFingerprint::bare(unit, fingerprint.into())
}
