//! Plans and explanations turned into text a person reads at a glance, the versioned JSON
//! contract, and a GitHub Actions matrix. Pure: values in, strings out.

use crate::fingerprint::{InputKey, Manifest};
use crate::plan::{Action, Plan, Reason, UnitPlan, SCHEMA};
use crate::text::short;
use comfy_table::{presets, Table};
use serde::Serialize;

/// An input id for people: git object ids and digests shortened, composite ids (a
/// lockfile entry, a path with a digest) shown as a short digest of the whole.
fn short_id(id: &str) -> String {
    if id == "absent" || id.bytes().all(|b| b.is_ascii_hexdigit()) {
        short(id).to_owned()
    } else {
        use sha2::{Digest, Sha256};
        short(&crate::workspace::hex(&Sha256::digest(id))).to_owned()
    }
}

pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_header(header.to_vec());
    table
}

/// The plan as a table: action, name, kind, short fingerprint, first reason and how many more.
pub fn plan_text(plan: &Plan) -> String {
    let units: Vec<&UnitPlan> = plan.services.iter().chain(&plan.apps).collect();
    let deploying = units.iter().filter(|u| u.action == Action::Deploy).count();
    let mut out = format!(
        "Plan {} → {}: {deploying} to deploy, {} unchanged\n\n",
        short(&plan.base),
        short(&plan.head),
        units.len() - deploying
    );
    let mut rows = table(&["ACTION", "NAME", "KIND", "FINGERPRINT", "WHY"]);
    for unit in &units {
        let (action, why) = match unit.action {
            Action::Deploy => ("DEPLOY", first_reason(&unit.reasons)),
            Action::Skip => ("skip", "unchanged".to_owned()),
        };
        rows.add_row(vec![
            action,
            &unit.name,
            unit.kind.as_str(),
            short(&unit.fingerprint),
            &why,
        ]);
    }
    out.push_str(&trim_lines(&rows.to_string()));
    out.push('\n');
    if !plan.removed.is_empty() {
        out.push_str(&format!(
            "\nno longer in deploy.toml (left as they are): {}\n",
            plan.removed.join(", ")
        ));
    }
    if let Some(dirty) = plan.dirty_inputs.as_ref().filter(|d| !d.is_empty()) {
        out.push_str(&format!(
            "\nwarning: {} uncommitted input path(s) are not in this plan; commit them to deploy them:\n",
            dirty.len()
        ));
        for input in dirty {
            out.push_str(&format!("  {} ({})\n", input.path, input.units.join(", ")));
        }
    }
    out
}

pub fn first_reason(reasons: &[Reason]) -> String {
    match reasons {
        [] => String::new(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (+{} more)", rest.len()),
    }
}

/// comfy-table pads every cell; trailing spaces only make diffs noisy.
pub fn trim_lines(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn plan_json(plan: &Plan) -> String {
    to_json(plan)
}

/// `{"include": [...]}` of the services to deploy, for `strategy.matrix` in GitHub Actions.
pub fn github_matrix(plan: &Plan) -> String {
    #[derive(Serialize)]
    struct Entry<'a> {
        service: &'a str,
        fingerprint: &'a str,
    }
    let include: Vec<Entry<'_>> = plan
        .services
        .iter()
        .filter(|s| s.action == Action::Deploy)
        .map(|s| Entry {
            service: &s.name,
            fingerprint: &s.fingerprint,
        })
        .collect();
    format!("{}\n", serde_json::json!({ "include": include }))
}

/// `{"include": [{"shard": 1, "services": "a,b", "count": 2}, ...]}`: one CI job per
/// shard, each building its services' images (`deploy --images-only --services a,b`).
pub fn github_matrix_shards(shards: &[Vec<String>]) -> String {
    let include: Vec<serde_json::Value> = (shards.iter().enumerate())
        .map(|(i, services)| {
            serde_json::json!({
                "shard": i + 1,
                "services": services.join(","),
                "count": services.len(),
            })
        })
        .collect();
    format!("{}\n", serde_json::json!({ "include": include }))
}

/// One unit's inputs and decision, for `cargo xtask explain`.
pub struct Explanation<'a> {
    pub unit: &'a UnitPlan,
    pub head: &'a Manifest,
    pub base: Option<&'a Manifest>,
    pub head_commit: &'a str,
    pub base_commit: &'a str,
}

pub fn explain_text(e: &Explanation<'_>) -> String {
    let mut out = format!(
        "{} ({}) at {}\nfingerprint {}\n",
        e.head.unit.name,
        e.head.unit.kind.as_str(),
        short(e.head_commit),
        e.head.fingerprint
    );
    match e.base {
        Some(base) => out.push_str(&format!(
            "base {}: fingerprint {}\n",
            short(e.base_commit),
            base.fingerprint
        )),
        None => out.push_str(&format!(
            "base {}: not in deploy.toml\n",
            short(e.base_commit)
        )),
    }
    out.push_str(&format!(
        "\ninputs ({}), * = differs from the base:\n",
        e.head.inputs.len()
    ));
    let mut rows = table(&["", "INPUT", "WHAT", "ID"]);
    for (key, input) in &e.head.inputs {
        let differs = e
            .base
            .is_none_or(|b| b.inputs.get(key).is_none_or(|old| old.id != input.id));
        let mut what = match key {
            // The recipe is long: it is printed whole below the table.
            InputKey::Recipe => "build settings in deploy.toml (below)".to_owned(),
            _ => input.summary.clone(),
        };
        if let Some(via) = &input.via {
            what.push_str(&format!(" via {via}"));
        }
        rows.add_row(vec![
            if differs { "*" } else { "" },
            &key.to_string(),
            &what,
            &short_id(&input.id),
        ]);
    }
    out.push_str(&trim_lines(&rows.to_string()));
    out.push('\n');
    if let Some(recipe) = e.head.inputs.get(&InputKey::Recipe) {
        out.push_str(&format!("\nrecipe: {}\n", recipe.summary));
    }
    let notes: Vec<String> = e
        .head
        .inputs
        .iter()
        .flat_map(|(key, input)| {
            input
                .notes
                .iter()
                .map(move |note| format!("  {key}: {note}"))
        })
        .collect();
    if !notes.is_empty() {
        out.push_str(&format!(
            "\nhow manifests were read (as Cargo reads them):\n{}\n",
            notes.join("\n")
        ));
    }
    if let Some(base) = e.base {
        let gone: Vec<String> = base
            .inputs
            .keys()
            .filter(|k| !e.head.inputs.contains_key(*k))
            .map(ToString::to_string)
            .collect();
        if !gone.is_empty() {
            out.push_str(&format!("\nno longer inputs: {}\n", gone.join(", ")));
        }
    }
    match e.unit.action {
        Action::Skip => out.push_str("\nskip: the fingerprint is unchanged\n"),
        Action::Deploy => {
            out.push_str("\nDEPLOY, because:\n");
            for reason in &e.unit.reasons {
                out.push_str(&format!("  - {reason}\n"));
            }
        }
    }
    out
}

pub fn explain_json(e: &Explanation<'_>) -> String {
    #[derive(Serialize)]
    struct InputJson<'a> {
        input: String,
        id: &'a str,
        summary: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<&'a str>,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        notes: &'a [String],
    }
    let inputs: Vec<InputJson<'_>> = e
        .head
        .inputs
        .iter()
        .map(|(key, input)| InputJson {
            input: key.to_string(),
            id: &input.id,
            summary: &input.summary,
            via: input.via.as_deref(),
            notes: &input.notes,
        })
        .collect();
    to_json(&serde_json::json!({
        "schema": SCHEMA,
        "name": e.head.unit.name,
        "kind": e.head.unit.kind,
        "base": e.base_commit,
        "head": e.head_commit,
        "action": e.unit.action,
        "fingerprint": e.unit.fingerprint,
        "base_fingerprint": e.unit.base_fingerprint,
        "inputs": inputs,
        "reasons": serde_json::to_value(e.unit).expect("plans serialize")["reasons"],
    }))
}

fn to_json(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("plans serialize");
    text.push('\n');
    text
}
