//! Splitting the services a plan deploys across CI jobs (`plan --format github-matrix
//! --shards N`): each job builds its shard's images, the last job rolls them all. A job's
//! cost is the compile of the union of its services' crate closures (one host build serves
//! them all: a crate two services share compiles once) plus an image build per service.
//! So services that share most of their closure form one group, never split; groups go to
//! shards longest first, each to the cheapest shard so far (LPT), so the shards cost about
//! the same.

use std::collections::BTreeSet;

/// What one image build costs beside its compile, in compile units (one crate or package
/// compiled): a `docker build` of a copied binary and its push. A weight, not a
/// measurement: it keeps a shard of many small services from looking free.
pub const IMAGE_COST: usize = 20;

/// One service to build and what its compile is made of (workspace crates and locked
/// packages, as its fingerprint manifest names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub service: String,
    pub units: BTreeSet<String>,
}

/// The services of each shard, sorted, at most `shards` of them, none empty.
pub fn balance(builds: &[Build], shards: usize) -> Vec<Vec<String>> {
    let mut bins: Vec<Group<'_>> = (0..shards.max(1)).map(|_| Group::default()).collect();
    let mut groups = groups(builds);
    groups.sort_by_key(|g| std::cmp::Reverse(g.cost()));
    for group in groups {
        let cheapest = (bins.iter_mut())
            .min_by_key(|b| b.cost())
            .expect("at least one shard");
        cheapest.merge(group);
    }
    let mut out: Vec<Vec<String>> = (bins.into_iter())
        .filter(|b| !b.services.is_empty())
        .map(|b| {
            let mut services = b.services;
            services.sort();
            services
        })
        .collect();
    out.sort();
    out
}

/// Services that share most of their closure (more than half of the smaller one's, with
/// the group's), largest first into the group they share most with.
fn groups(builds: &[Build]) -> Vec<Group<'_>> {
    let mut order: Vec<&Build> = builds.iter().collect();
    order.sort_by(|a, b| {
        b.units
            .len()
            .cmp(&a.units.len())
            .then(a.service.cmp(&b.service))
    });
    let mut groups: Vec<Group<'_>> = Vec::new();
    for build in order {
        let best = (groups.iter_mut())
            .map(|g| (g.shared(build), g))
            .filter(|(shared, _)| 2 * shared > build.units.len())
            .max_by_key(|(shared, _)| *shared);
        match best {
            Some((_, group)) => group.add(build),
            None => {
                let mut group = Group::default();
                group.add(build);
                groups.push(group);
            }
        }
    }
    groups
}

/// Services built together, and the union of what they compile.
#[derive(Default)]
struct Group<'a> {
    units: BTreeSet<&'a str>,
    services: Vec<String>,
}

impl<'a> Group<'a> {
    fn shared(&self, build: &Build) -> usize {
        (build.units.iter())
            .filter(|u| self.units.contains(u.as_str()))
            .count()
    }

    fn cost(&self) -> usize {
        self.units.len() + IMAGE_COST * self.services.len()
    }

    fn add(&mut self, build: &'a Build) {
        self.units.extend(build.units.iter().map(String::as_str));
        self.services.push(build.service.clone());
    }

    fn merge(&mut self, other: Group<'a>) {
        self.units.extend(other.units);
        self.services.extend(other.services);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(service: &str, units: std::ops::Range<usize>) -> Build {
        Build {
            service: service.into(),
            units: units.map(|i| format!("crate-{i}")).collect(),
        }
    }

    #[test]
    fn services_sharing_most_of_their_closure_go_together() {
        // a and b share a big closure, c and d another: two shards, one per family (the
        // cheapest split of each would put a beside c and b beside d: 540 against 345).
        let builds = [
            build("a", 0..300),
            build("b", 5..305),
            build("c", 1000..1200),
            build("d", 1010..1210),
        ];
        assert_eq!(balance(&builds, 2), [vec!["a", "b"], vec!["c", "d"]]);
    }

    #[test]
    fn unrelated_services_spread_and_no_shard_is_empty() {
        let builds: Vec<Build> = (0..6)
            .map(|i| build(&format!("s{i}"), i * 100..i * 100 + 50))
            .collect();
        let shards = balance(&builds, 3);
        assert_eq!(shards.len(), 3);
        assert!(shards.iter().all(|s| s.len() == 2), "{shards:?}");
        // More shards than services: one service each, the rest dropped.
        assert_eq!(balance(&builds[..2], 5).len(), 2);
        assert!(balance(&[], 3).is_empty());
    }
}
