//! The judgement of one file: its statements in order (and those inside `DO` bodies), each
//! checked against what the file did before it (tables it created, constraints it added
//! NOT VALID, enum values it added, tables it took an ACCESS EXCLUSIVE lock on) and what
//! the earlier migrations created. Findings carry the line and a detail naming the table.

use crate::rules::Rule;
use crate::schema::{NotNullCheck, Rel, Schema};
use crate::source::{self, Statement};
use crate::types::{self, Type};
use crate::volatility;
use crate::Settings;
use pg_query::protobuf::{
    a_const, AlterTableCmd, AlterTableType, ColumnDef, ConstrType, Constraint, ObjectType,
    TransactionStmtKind, VariableSetKind,
};
use pg_query::{Node, NodeEnum};
use std::collections::{BTreeMap, BTreeSet};

pub type Found = (usize, Rule, String);

pub struct File<'a> {
    file: &'a source::File<'a>,
    schema: &'a mut Schema,
    /// The runner applies the file in one transaction.
    tx: bool,
    created: BTreeSet<Rel>,
    created_indexes: BTreeSet<String>,
    /// Constraints this file added NOT VALID.
    not_valid: BTreeSet<String>,
    /// Enum values this file added.
    enum_values: Vec<String>,
    /// Existing tables this file locked ACCESS EXCLUSIVE, and UPDATEd or DELETEd from.
    locked: BTreeSet<Rel>,
    backfilled: BTreeMap<Rel, usize>,
    lock_timeout: bool,
    found: Vec<Found>,
}

impl<'a> File<'a> {
    pub fn new(file: &'a source::File<'a>, settings: &'a Settings, schema: &'a mut Schema) -> Self {
        File {
            file,
            schema,
            tx: !file.no_transaction,
            created: BTreeSet::new(),
            created_indexes: BTreeSet::new(),
            not_valid: BTreeSet::new(),
            enum_values: Vec::new(),
            locked: BTreeSet::new(),
            backfilled: BTreeMap::new(),
            lock_timeout: settings.runner_lock_timeout,
            found: Vec::new(),
        }
    }

    pub fn run(mut self) -> Vec<Found> {
        for statement in &self.file.statements {
            self.statement(statement);
        }
        self.found
    }

    fn flag(&mut self, line: usize, rule: Rule, detail: impl Into<String>) {
        self.found.push((line, rule, detail.into()));
    }

    fn existing(&self, rel: &Rel) -> bool {
        !self.created.contains(rel)
    }

    fn statement(&mut self, statement: &Statement<'_>) {
        let line = statement.line;
        self.enum_value_use(&statement.node, line);
        match &statement.node {
            NodeEnum::CreateStmt(create) => self.create_table(create),
            NodeEnum::AlterTableStmt(alter) => self.alter_table(alter, line),
            NodeEnum::RenameStmt(rename) => self.rename(rename, line),
            NodeEnum::DropStmt(drop) => self.drop(drop, line),
            NodeEnum::IndexStmt(index) => self.index(index, line),
            NodeEnum::ReindexStmt(reindex) => self.concurrently(
                &reindex.params,
                line,
                Rule::ReindexNotConcurrently,
                "REINDEX",
            ),
            NodeEnum::VacuumStmt(vacuum) if vacuum.is_vacuumcmd => {
                if has_option(&vacuum.options, "full") {
                    self.flag(line, Rule::VacuumFull, "VACUUM FULL");
                }
                if self.tx {
                    self.flag(line, Rule::NeedsNoTransaction, "VACUUM");
                }
            }
            NodeEnum::ClusterStmt(_) => self.flag(line, Rule::Cluster, "CLUSTER"),
            NodeEnum::LockStmt(lock) => {
                self.exclusive(&lock.relations, line, Rule::LockTable, "LOCK TABLE")
            }
            NodeEnum::TruncateStmt(truncate) => {
                self.exclusive(&truncate.relations, line, Rule::Truncate, "TRUNCATE")
            }
            NodeEnum::AlterEnumStmt(alter) if alter.old_val.is_empty() && self.tx => {
                self.enum_values.push(alter.new_val.clone());
            }
            NodeEnum::TransactionStmt(tx) => {
                let kind = TransactionStmtKind::try_from(tx.kind)
                    .unwrap_or(TransactionStmtKind::Undefined);
                let word = format!("{kind:?}").replace("TransStmt", "").to_uppercase();
                self.flag(line, Rule::TransactionControl, word);
            }
            NodeEnum::VariableSetStmt(set) if set.name == "lock_timeout" => {
                self.lock_timeout = VariableSetKind::try_from(set.kind)
                    == Ok(VariableSetKind::VarSetValue)
                    && !set.args.iter().all(is_zero);
            }
            NodeEnum::UpdateStmt(update) => self.backfill(update.relation.as_ref(), line),
            NodeEnum::DeleteStmt(delete) => self.backfill(delete.relation.as_ref(), line),
            NodeEnum::DoStmt(block) => self.do_block(&block.args, statement),
            NodeEnum::CreateTableAsStmt(create) => {
                // CREATE TABLE … AS and SELECT … INTO: a new table, as CREATE TABLE makes.
                let into = create.into.as_ref().and_then(|i| i.rel.as_ref());
                self.created.extend(into.map(Rel::of));
            }
            NodeEnum::RefreshMatViewStmt(refresh) if !refresh.concurrent => {
                let view = refresh.relation.as_ref().map(Rel::of);
                let view = view.map_or_else(String::new, |v| v.to_string());
                self.flag(line, Rule::RefreshNotConcurrently, view);
            }
            _ => {}
        }
    }

    fn create_table(&mut self, create: &pg_query::protobuf::CreateStmt) {
        let Some(relation) = &create.relation else {
            return;
        };
        let rel = Rel::of(relation);
        let columns = (create.table_elts.iter())
            .filter_map(|e| match &e.node {
                Some(NodeEnum::ColumnDef(c)) => Some(column(c)),
                _ => None,
            })
            .collect();
        self.schema.tables.insert(rel.clone(), columns);
        self.created.insert(rel);
    }

    fn alter_table(&mut self, alter: &pg_query::protobuf::AlterTableStmt, line: usize) {
        let Some(relation) = &alter.relation else {
            return;
        };
        if ObjectType::try_from(alter.objtype) != Ok(ObjectType::ObjectTable) {
            return;
        }
        let rel = Rel::of(relation);
        let cmds: Vec<&AlterTableCmd> = (alter.cmds.iter())
            .filter_map(|c| match &c.node {
                Some(NodeEnum::AlterTableCmd(cmd)) => Some(cmd.as_ref()),
                _ => None,
            })
            .collect();
        for cmd in &cmds {
            self.alter(&rel, cmd, line);
        }
        if cmds.iter().any(|c| access_exclusive(c)) {
            self.strong_lock(&rel, line);
        }
    }

    fn index(&mut self, index: &pg_query::protobuf::IndexStmt, line: usize) {
        let Some(relation) = &index.relation else {
            return;
        };
        let rel = Rel::of(relation);
        if index.concurrent {
            self.schema.concurrent_indexes.insert(index.idxname.clone());
            if self.tx {
                self.flag(line, Rule::NeedsNoTransaction, "CREATE INDEX CONCURRENTLY");
            }
        } else if self.existing(&rel) {
            self.flag(
                line,
                Rule::CreateIndexNotConcurrently,
                format!("index on {rel}"),
            );
        }
        self.created_indexes.insert(index.idxname.clone());
    }

    /// A statement with a CONCURRENTLY option: without it, `rule`; with it, it cannot run
    /// in the runner's transaction.
    fn concurrently(&mut self, options: &[Node], line: usize, rule: Rule, what: &str) {
        if !has_option(options, "concurrently") {
            self.flag(line, rule, what);
        } else if self.tx {
            self.flag(
                line,
                Rule::NeedsNoTransaction,
                format!("{what} CONCURRENTLY"),
            );
        }
    }

    /// LOCK TABLE and TRUNCATE: `rule` and an ACCESS EXCLUSIVE lock on each existing table.
    fn exclusive(&mut self, relations: &[Node], line: usize, rule: Rule, what: &str) {
        let existing: Vec<Rel> = self::relations(relations)
            .filter(|r| self.existing(r))
            .collect();
        for rel in existing {
            self.flag(line, rule, format!("{what} {rel}"));
            self.strong_lock(&rel, line);
        }
    }

    /// An ACCESS EXCLUSIVE lock on an existing table: it needs a lock_timeout, and a
    /// backfill of that table in the same transaction would hold it.
    fn strong_lock(&mut self, rel: &Rel, line: usize) {
        if !self.existing(rel) {
            return;
        }
        if !self.lock_timeout {
            self.flag(
                line,
                Rule::LockTimeout,
                format!("{rel} is locked ACCESS EXCLUSIVE"),
            );
        }
        if self.tx {
            if let Some(&at) = self.backfilled.get(rel) {
                self.flag(
                    at,
                    Rule::BackfillWithDdl,
                    format!("{rel} is also altered in this transaction"),
                );
            }
        }
        self.locked.insert(rel.clone());
    }

    fn backfill(&mut self, relation: Option<&pg_query::protobuf::RangeVar>, line: usize) {
        let Some(rel) = relation.map(Rel::of) else {
            return;
        };
        if !self.existing(&rel) {
            return;
        }
        if self.tx && self.locked.contains(&rel) {
            self.flag(
                line,
                Rule::BackfillWithDdl,
                format!("{rel} is altered in this transaction"),
            );
        }
        self.backfilled.entry(rel).or_insert(line);
    }

    fn alter(&mut self, rel: &Rel, cmd: &AlterTableCmd, line: usize) {
        let existing = self.existing(rel);
        let subtype = AlterTableType::try_from(cmd.subtype).unwrap_or(AlterTableType::Undefined);
        match subtype {
            AlterTableType::AtAddColumn => {
                let Some(NodeEnum::ColumnDef(def)) = cmd.def.as_ref().and_then(|d| d.node.as_ref())
                else {
                    return;
                };
                if existing {
                    self.add_column(rel, def, line);
                }
                let (name, ty) = column(def);
                self.schema
                    .tables
                    .entry(rel.clone())
                    .or_default()
                    .insert(name, ty);
            }
            AlterTableType::AtDropColumn if existing => {
                self.flag(line, Rule::DropColumn, format!("{rel}.{}", cmd.name));
            }
            AlterTableType::AtAlterColumnType => self.alter_type(rel, cmd, line, existing),
            AlterTableType::AtSetNotNull
                if existing && !self.schema.proves_not_null(rel, &cmd.name) =>
            {
                self.flag(line, Rule::SetNotNull, format!("{rel}.{}", cmd.name));
            }
            AlterTableType::AtAddConstraint => {
                let Some(NodeEnum::Constraint(c)) = cmd.def.as_ref().and_then(|d| d.node.as_ref())
                else {
                    return;
                };
                self.add_constraint(rel, c, line, existing);
            }
            AlterTableType::AtValidateConstraint => {
                if self.tx && self.not_valid.contains(&cmd.name) {
                    self.flag(
                        line,
                        Rule::ValidateSameTransaction,
                        format!("constraint {}", cmd.name),
                    );
                }
                if let Some(check) = self.schema.not_null_checks.get_mut(&cmd.name) {
                    check.validated = true;
                }
            }
            AlterTableType::AtSetTableSpace
            | AlterTableType::AtSetLogged
            | AlterTableType::AtSetUnLogged
            | AlterTableType::AtSetAccessMethod
                if existing =>
            {
                self.flag(line, Rule::TableRewrite, format!("{rel}"));
            }
            _ => {}
        }
    }

    fn add_column(&mut self, rel: &Rel, def: &ColumnDef, line: usize) {
        let name = format!("{rel}.{}", def.colname);
        let ty = def.type_name.as_ref().map(Type::of);
        let constraints: Vec<&Constraint> = constraints(&def.constraints).collect();
        let kind = |t: ConstrType| {
            constraints
                .iter()
                .filter(move |c| ConstrType::try_from(c.contype) == Ok(t))
        };
        let default = kind(ConstrType::ConstrDefault)
            .next()
            .and_then(|c| c.raw_expr.as_deref())
            .or(def.raw_default.as_deref());
        if ty.as_ref().is_some_and(Type::is_serial)
            || kind(ConstrType::ConstrIdentity).next().is_some()
        {
            self.flag(line, Rule::AddSerialColumn, name.clone());
        }
        if kind(ConstrType::ConstrGenerated).next().is_some() {
            self.flag(line, Rule::AddStoredGenerated, name.clone());
        }
        if let Some(function) = default.and_then(volatile_call) {
            self.flag(
                line,
                Rule::VolatileDefault,
                format!("{name} DEFAULT {function}()"),
            );
        }
        let not_null = def.is_not_null || kind(ConstrType::ConstrNotnull).next().is_some();
        let filled = default.is_some()
            || kind(ConstrType::ConstrIdentity).next().is_some()
            || kind(ConstrType::ConstrGenerated).next().is_some()
            || ty.as_ref().is_some_and(Type::is_serial);
        if not_null && !filled {
            self.flag(line, Rule::AddColumnNotNull, name.clone());
        }
        let any = |a: ConstrType, b: ConstrType| kind(a).chain(kind(b)).next().is_some();
        if any(ConstrType::ConstrPrimary, ConstrType::ConstrUnique) {
            self.flag(line, Rule::UniqueNotUsingIndex, name.clone());
        }
        // A REFERENCES or CHECK written on the new column is validated at once, by a scan
        // (an inline constraint cannot be NOT VALID).
        if any(ConstrType::ConstrForeign, ConstrType::ConstrCheck) {
            self.flag(line, Rule::ConstraintNotValid, format!("{name} (inline)"));
        }
    }

    fn alter_type(&mut self, rel: &Rel, cmd: &AlterTableCmd, line: usize, existing: bool) {
        let Some(NodeEnum::ColumnDef(def)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
            return;
        };
        let Some(new) = def.type_name.as_ref().map(Type::of) else {
            return;
        };
        let old = self.schema.column_type(rel, &cmd.name).cloned();
        // A USING expression computes every value again: always a rewrite.
        let coercible = def.raw_default.is_none()
            && old.as_ref().is_some_and(|old| types::no_rewrite(old, &new));
        if existing && !coercible {
            let from = old.map_or("a type the migrations do not show".to_owned(), |o| o.name);
            self.flag(
                line,
                Rule::AlterColumnType,
                format!("{rel}.{} from {from} to {}", cmd.name, new.name),
            );
        }
        self.schema
            .tables
            .entry(rel.clone())
            .or_default()
            .insert(cmd.name.clone(), new);
    }

    fn add_constraint(&mut self, rel: &Rel, c: &Constraint, line: usize, existing: bool) {
        let kind = ConstrType::try_from(c.contype).unwrap_or(ConstrType::Undefined);
        if c.skip_validation {
            self.not_valid.insert(c.conname.clone());
        }
        if kind == ConstrType::ConstrCheck {
            if let Some(column) = c.raw_expr.as_deref().and_then(is_not_null_test) {
                let validated = !c.skip_validation;
                let check = NotNullCheck {
                    table: rel.clone(),
                    column,
                    validated,
                };
                self.schema.not_null_checks.insert(c.conname.clone(), check);
            }
        }
        if !existing {
            return;
        }
        let name = if c.conname.is_empty() {
            format!("{rel}")
        } else {
            format!("{rel} constraint {}", c.conname)
        };
        match kind {
            ConstrType::ConstrForeign | ConstrType::ConstrCheck if !c.skip_validation => {
                self.flag(line, Rule::ConstraintNotValid, name);
            }
            ConstrType::ConstrPrimary | ConstrType::ConstrUnique if c.indexname.is_empty() => {
                self.flag(line, Rule::UniqueNotUsingIndex, name);
            }
            ConstrType::ConstrExclusion => self.flag(line, Rule::UniqueNotUsingIndex, name),
            _ => {}
        }
    }

    fn rename(&mut self, rename: &pg_query::protobuf::RenameStmt, line: usize) {
        let Some(rel) = rename.relation.as_ref().map(Rel::of) else {
            return;
        };
        let existing = self.existing(&rel);
        match ObjectType::try_from(rename.rename_type) {
            Ok(ObjectType::ObjectColumn) => {
                if existing {
                    self.flag(
                        line,
                        Rule::RenameColumn,
                        format!("{rel}.{}", rename.subname),
                    );
                }
                if let Some(columns) = self.schema.tables.get_mut(&rel) {
                    if let Some(ty) = columns.remove(&rename.subname) {
                        columns.insert(rename.newname.clone(), ty);
                    }
                }
            }
            Ok(ObjectType::ObjectTable) => {
                if existing {
                    self.flag(line, Rule::RenameTable, format!("{rel}"));
                }
                if let Some(columns) = self.schema.tables.remove(&rel) {
                    self.schema
                        .tables
                        .insert(Rel::new(&rel.schema, &rename.newname), columns);
                }
            }
            _ => return,
        }
        self.strong_lock(&rel, line);
    }

    fn drop(&mut self, drop: &pg_query::protobuf::DropStmt, line: usize) {
        match ObjectType::try_from(drop.remove_type) {
            Ok(ObjectType::ObjectTable) => {
                for rel in drop.objects.iter().filter_map(qualified) {
                    if self.existing(&rel) {
                        self.flag(line, Rule::DropTable, format!("{rel}"));
                        self.strong_lock(&rel, line);
                    }
                    self.schema.tables.remove(&rel);
                }
            }
            Ok(ObjectType::ObjectIndex) => {
                let names: Vec<Rel> = drop.objects.iter().filter_map(qualified).collect();
                if drop.concurrent {
                    if self.tx {
                        self.flag(line, Rule::NeedsNoTransaction, "DROP INDEX CONCURRENTLY");
                    }
                } else if names
                    .iter()
                    .any(|n| !self.created_indexes.contains(&n.name))
                {
                    self.flag(
                        line,
                        Rule::DropIndexNotConcurrently,
                        names
                            .iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                    if !self.lock_timeout {
                        self.flag(
                            line,
                            Rule::LockTimeout,
                            "DROP INDEX locks its table ACCESS EXCLUSIVE",
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// A statement using a value this transaction added to an enum.
    fn enum_value_use(&mut self, node: &NodeEnum, line: usize) {
        if self.enum_values.is_empty() || matches!(node, NodeEnum::AlterEnumStmt(_)) {
            return;
        }
        let tree = serde_json::to_value(node).unwrap_or_default();
        let used: Vec<String> = (self.enum_values.iter())
            .filter(|v| has_string(&tree, v))
            .cloned()
            .collect();
        for value in used {
            self.flag(line, Rule::EnumValueUsed, format!("'{value}'"));
        }
    }

    /// The statements of a PL/pgSQL `DO` body, judged as part of this file (they run in
    /// its transaction). Dynamic SQL is judged when it is a constant string.
    fn do_block(&mut self, args: &[Node], statement: &Statement<'_>) {
        let option = |name: &str| {
            args.iter().find_map(|a| match &a.node {
                Some(NodeEnum::DefElem(d)) if d.defname == name => {
                    match d.arg.as_deref().and_then(|n| n.node.as_ref()) {
                        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                        _ => None,
                    }
                }
                _ => None,
            })
        };
        if option("language").is_some_and(|l| l != "plpgsql") {
            return;
        }
        let Some(body) = option("as") else { return };
        let wrapped = format!("CREATE FUNCTION xtask_do() RETURNS void AS $xtask_do${body}$xtask_do$ LANGUAGE plpgsql");
        let Ok(tree) = pg_query::parse_plpgsql(&wrapped) else {
            return;
        };
        let first = match statement.text.find(body.as_str()) {
            Some(at) => {
                let offset =
                    statement.text.as_ptr() as usize - self.file.sql.as_ptr() as usize + at;
                source::line_at(self.file.sql, offset)
            }
            None => statement.line,
        };
        let mut inner = Vec::new();
        plpgsql_statements(&tree, &mut inner);
        for (lineno, sql) in inner {
            let line = first + lineno.saturating_sub(1);
            let Ok(parsed) = pg_query::parse(&sql) else {
                continue;
            };
            for node in parsed
                .protobuf
                .stmts
                .into_iter()
                .filter_map(|s| s.stmt.and_then(|s| s.node))
            {
                self.statement(&Statement {
                    node,
                    line,
                    text: &sql,
                });
            }
        }
    }
}

/// Whether a subcommand of ALTER TABLE takes an ACCESS EXCLUSIVE lock (the ALTER TABLE
/// reference lists the lighter ones).
fn access_exclusive(cmd: &AlterTableCmd) -> bool {
    use AlterTableType::*;
    let subtype = AlterTableType::try_from(cmd.subtype).unwrap_or(Undefined);
    let foreign_key = matches!(cmd.def.as_deref().and_then(|d| d.node.as_ref()),
        Some(NodeEnum::Constraint(c)) if ConstrType::try_from(c.contype) == Ok(ConstrType::ConstrForeign));
    !(foreign_key
        || matches!(
            subtype,
            AtValidateConstraint
                | AtSetStatistics
                | AtClusterOn
                | AtDropCluster
                | AtAttachPartition
                | AtEnableTrig
                | AtEnableAlwaysTrig
                | AtEnableReplicaTrig
                | AtDisableTrig
                | AtEnableTrigAll
                | AtDisableTrigAll
                | AtEnableTrigUser
                | AtDisableTrigUser
        ))
}

fn column(def: &ColumnDef) -> (String, Type) {
    let ty = def.type_name.as_ref().map(Type::of).unwrap_or(Type {
        name: String::new(),
        mods: Vec::new(),
        array: false,
    });
    (def.colname.clone(), ty)
}

fn constraints(nodes: &[Node]) -> impl Iterator<Item = &Constraint> {
    nodes.iter().filter_map(|n| match &n.node {
        Some(NodeEnum::Constraint(c)) => Some(c.as_ref()),
        _ => None,
    })
}

fn relations(nodes: &[Node]) -> impl Iterator<Item = Rel> + '_ {
    nodes.iter().filter_map(|n| match &n.node {
        Some(NodeEnum::RangeVar(r)) => Some(Rel::of(r)),
        _ => None,
    })
}

/// A DROP's object, a list of name parts (`schema.name`).
fn qualified(node: &Node) -> Option<Rel> {
    let Some(NodeEnum::List(list)) = &node.node else {
        return None;
    };
    let parts: Vec<&str> = (list.items.iter())
        .filter_map(|i| match &i.node {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect();
    match parts[..] {
        [name] => Some(Rel::new("", name)),
        [.., schema, name] => Some(Rel::new(schema, name)),
        [] => None,
    }
}

fn has_option(options: &[Node], name: &str) -> bool {
    options.iter().any(|o| matches!(&o.node, Some(NodeEnum::DefElem(d)) if d.defname == name
        && !matches!(d.arg.as_deref().and_then(|a| a.node.as_ref()), Some(NodeEnum::Boolean(b)) if !b.boolval)))
}

/// `SET lock_timeout = 0` (or '0'), which turns it off.
fn is_zero(arg: &Node) -> bool {
    match &arg.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(a_const::Val::Ival(i)) => i.ival == 0,
            Some(a_const::Val::Sval(s)) => s.sval.trim() == "0",
            _ => false,
        },
        _ => false,
    }
}

/// The first volatile function a DEFAULT expression calls.
fn volatile_call(expr: &Node) -> Option<String> {
    let tree = serde_json::to_value(expr).ok()?;
    let mut calls = Vec::new();
    function_calls(&tree, &mut calls);
    calls
        .into_iter()
        .find(|(schema, name)| volatility::is_volatile(schema.as_deref(), name))
        .map(|(_, name)| name)
}

fn function_calls(tree: &serde_json::Value, out: &mut Vec<(Option<String>, String)>) {
    match tree {
        serde_json::Value::Object(map) => {
            if let Some(call) = map.get("FuncCall") {
                let parts: Vec<String> = (call["funcname"].as_array().into_iter().flatten())
                    .filter_map(|p| p["node"]["String"]["sval"].as_str().map(str::to_owned))
                    .collect();
                if let Some((name, schema)) = parts.split_last() {
                    out.push((schema.last().cloned(), name.clone()));
                }
            }
            map.values().for_each(|v| function_calls(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| function_calls(v, out)),
        _ => {}
    }
}

/// Whether the tree has the string constant `value` (not an identifier of that name).
fn has_string(tree: &serde_json::Value, value: &str) -> bool {
    match tree {
        serde_json::Value::Object(map) => {
            map.get("AConst")
                .is_some_and(|c| c["val"]["Sval"]["sval"].as_str() == Some(value))
                || map.values().any(|v| has_string(v, value))
        }
        serde_json::Value::Array(items) => items.iter().any(|v| has_string(v, value)),
        _ => false,
    }
}

/// The column a CHECK expression `col IS NOT NULL` names.
fn is_not_null_test(expr: &Node) -> Option<String> {
    let Some(NodeEnum::NullTest(test)) = &expr.node else {
        return None;
    };
    if test.nulltesttype != pg_query::protobuf::NullTestType::IsNotNull as i32 {
        return None;
    }
    let Some(NodeEnum::ColumnRef(column)) = test.arg.as_deref().and_then(|a| a.node.as_ref())
    else {
        return None;
    };
    match column.fields.last().and_then(|f| f.node.as_ref()) {
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        _ => None,
    }
}

/// `(lineno, sql)` of every SQL statement in a PL/pgSQL tree, and of every `EXECUTE` of a
/// constant string.
fn plpgsql_statements(tree: &serde_json::Value, out: &mut Vec<(usize, String)>) {
    match tree {
        serde_json::Value::Object(map) => {
            if let Some(exec) = map.get("PLpgSQL_stmt_execsql") {
                let query = exec["sqlstmt"]["PLpgSQL_expr"]["query"].as_str();
                if let (Some(line), Some(query)) = (exec["lineno"].as_u64(), query) {
                    out.push((line as usize, query.to_owned()));
                }
            }
            if let Some(exec) = map.get("PLpgSQL_stmt_dynexecute") {
                let query = exec["query"]["PLpgSQL_expr"]["query"]
                    .as_str()
                    .and_then(constant_string);
                if let (Some(line), Some(query)) = (exec["lineno"].as_u64(), query) {
                    out.push((line as usize, query));
                }
            }
            map.values().for_each(|v| plpgsql_statements(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| plpgsql_statements(v, out)),
        _ => {}
    }
}

/// The value of an expression that is one string constant (`'ALTER TABLE …'`).
fn constant_string(expr: &str) -> Option<String> {
    let parsed = pg_query::parse(&format!("SELECT {expr}")).ok()?;
    let tree = serde_json::to_value(&parsed.protobuf).ok()?;
    let target = &tree["stmts"][0]["stmt"]["node"]["SelectStmt"]["target_list"];
    let value = &target.as_array().filter(|t| t.len() == 1)?[0]["node"]["ResTarget"]["val"]["node"]
        ["AConst"];
    value["val"]["Sval"]["sval"].as_str().map(str::to_owned)
}
