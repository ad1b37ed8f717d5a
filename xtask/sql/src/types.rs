//! Column types as the parser gives them, and which type changes PostgreSQL makes without
//! rewriting the table or scanning it: those that are binary-coercible and only widen the
//! type modifier (ALTER TABLE's documentation; `varchar_support`, `numeric_support` and
//! `timestamp_support` in the server decide that the new typmod cannot fail).

use pg_query::protobuf::{a_const, TypeName};
use pg_query::NodeEnum;

/// A type name (its last part, as the parser resolved it: `varchar`, `int4`, `text`) and
/// its modifiers (`varchar(20)` → `[20]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    pub name: String,
    pub mods: Vec<i32>,
    pub array: bool,
}

impl Type {
    pub fn of(type_name: &TypeName) -> Type {
        let name = (type_name.names.last())
            .and_then(|n| match &n.node {
                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let mods = (type_name.typmods.iter())
            .filter_map(|m| match &m.node {
                Some(NodeEnum::AConst(c)) => match &c.val {
                    Some(a_const::Val::Ival(i)) => Some(i.ival),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        Type {
            name: canonical(&name).to_owned(),
            mods,
            array: !type_name.array_bounds.is_empty(),
        }
    }

    /// The serial pseudo-types, which add a sequence and fill every row.
    pub fn is_serial(&self) -> bool {
        matches!(
            self.name.as_str(),
            "serial" | "serial4" | "bigserial" | "serial8" | "smallserial" | "serial2"
        )
    }
}

/// The server's own name of a type the grammar leaves as written.
fn canonical(name: &str) -> &str {
    match name {
        "character varying" => "varchar",
        "timestamp with time zone" => "timestamptz",
        other => other,
    }
}

/// Whether changing a column from `old` to `new` keeps every stored value as it is, so
/// that PostgreSQL neither rewrites the table nor scans it.
pub fn no_rewrite(old: &Type, new: &Type) -> bool {
    if old.array != new.array {
        return false;
    }
    let widens = |old: &[i32], new: &[i32]| match (old.first(), new.first()) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(o), Some(n)) => n >= o,
    };
    match (old.name.as_str(), new.name.as_str()) {
        ("varchar", "varchar") | ("varbit", "varbit") => widens(&old.mods, &new.mods),
        ("varchar", "text") | ("text", "text") => true,
        ("text", "varchar") => new.mods.is_empty(),
        ("numeric", "numeric") => match (&old.mods[..], &new.mods[..]) {
            (_, []) => true,
            ([], [_, ..]) => false,
            ([p, rest @ ..], [q, rest2 @ ..]) => {
                q >= p && rest.first().unwrap_or(&0) == rest2.first().unwrap_or(&0)
            }
        },
        ("timestamp", "timestamp")
        | ("timestamptz", "timestamptz")
        | ("time", "time")
        | ("timetz", "timetz")
        | ("interval", "interval") => widens(&old.mods, &new.mods),
        ("cidr", "inet") => true,
        (a, b) => a == b && old.mods == new.mods,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(sql: &str) -> Type {
        let parsed = pg_query::parse(&format!("CREATE TABLE t (c {sql})")).unwrap();
        let Some(NodeEnum::CreateStmt(create)) =
            parsed.protobuf.stmts[0].stmt.as_ref().unwrap().node.clone()
        else {
            panic!()
        };
        let Some(NodeEnum::ColumnDef(column)) = create.table_elts[0].node.clone() else {
            panic!()
        };
        Type::of(column.type_name.as_ref().unwrap())
    }

    #[test]
    fn widening_is_no_rewrite_and_narrowing_or_changing_is() {
        let cases = [
            ("varchar(100)", "varchar(255)", true),
            ("character varying(100)", "text", true),
            ("varchar(100)", "varchar", true),
            ("text", "varchar", true),
            ("numeric(10,2)", "numeric(12,2)", true),
            ("timestamp(3)", "timestamp(6)", true),
            ("cidr", "inet", true),
            ("varchar(255)", "varchar(100)", false),
            ("text", "varchar(10)", false),
            ("numeric(10,2)", "numeric(12,3)", false),
            ("int", "bigint", false),
            ("timestamp", "timestamptz", false),
            ("varchar(10)[]", "text", false),
        ];
        for (old, new, expected) in cases {
            assert_eq!(no_rewrite(&ty(old), &ty(new)), expected, "{old} → {new}");
        }
    }
}
