//! Activation: which engines accept deploys, with which engine version, which syscall
//! features are live, and which gas schedule is in force, at every height of a network.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use tos_engine_api::{FeatureSet, Gas, Height, ModuleTag};

/// How one tag is activated.
#[derive(Clone, PartialEq, Eq, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSchedule {
    /// First height at which modules of the tag may be deployed.
    pub deploy_from: Height,
    /// First height at which deploys are refused again (a sunset). Contracts deployed before
    /// keep running.
    #[serde(default)]
    pub deploy_until: Option<Height>,
    /// Engine versions serving the tag: each from its height on, until the next one. Sorted
    /// by height when loaded; the first must start at or before `deploy_from`.
    pub versions: Vec<VersionSwitch>,
}

/// From `from` on, the tag is served by engine version `version`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSwitch {
    /// First height served by this version.
    pub from: Height,
    /// The engine version ([`ExecutionEngine::version`](tos_engine_api::ExecutionEngine::version)).
    pub version: u32,
}

/// From `from` on, gas schedule `version` is in force: the previous version with the costs of
/// `set` changed. Version 1, the network's first schedule, is in force from height 0.
#[derive(Clone, PartialEq, Eq, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GasSwitch {
    /// First height at which the version is in force (above 0).
    pub from: Height,
    /// The version number: above every earlier switch's.
    pub version: u32,
    /// The costs that change, by name (`"syscall.tos_storage_store.base" = 2000`).
    #[serde(default)]
    pub set: BTreeMap<String, Gas>,
}

/// Why the schedule refuses a deploy.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ActivationError {
    /// The network never activates the tag.
    #[error("{tag} modules are not activated on {network}")]
    NotScheduled {
        /// The tag.
        tag: ModuleTag,
        /// The network.
        network: String,
    },
    /// The tag activates later.
    #[error(
        "{tag} deploys are accepted from height {from} on {network}; this block is at height {height}"
    )]
    NotYetActive {
        /// The tag.
        tag: ModuleTag,
        /// The network.
        network: String,
        /// The block's height.
        height: Height,
        /// The activation height.
        from: Height,
    },
    /// The tag's deploys were sunset.
    #[error(
        "{tag} deploys ended at height {since} on {network} (this block is at height {height}); existing {tag} contracts still run"
    )]
    Sunset {
        /// The tag.
        tag: ModuleTag,
        /// The network.
        network: String,
        /// The block's height.
        height: Height,
        /// The sunset height.
        since: Height,
    },
}

/// Why a schedule file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The file cannot be read.
    #[error("cannot read schedule {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown fields.
    #[error("schedule {path} is not valid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// The content is inconsistent.
    #[error("schedule {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The schedule names something this node's engines and syscalls do not declare, or sets
    /// a cost an engine cannot take.
    #[error("schedule of {network}: {message}")]
    Protocol {
        /// The network.
        network: String,
        /// What is wrong.
        message: String,
    },
}

/// The activation schedule of one network.
///
/// Code asks it predicates — [`check_deploy`](Self::check_deploy),
/// [`engine_version`](Self::engine_version), [`features_at`](Self::features_at) — and never
/// compares heights itself. Load one from TOML:
///
/// ```
/// let s = tos_host::ActivationSchedule::from_toml_str(r#"
///     network = "local"
///     [engines.tbpf]
///     deploy_from = 10
///     versions = [{ from = 0, version = 1 }, { from = 500, version = 2 }]
///     [engines.legacy]
///     deploy_from = 0
///     deploy_until = 100
///     versions = [{ from = 0, version = 1 }]
///     [features]
///     abi_v1 = 1000
/// "#).unwrap();
/// use tos_engine_api::ModuleTag;
/// assert!(s.check_deploy(ModuleTag::TBPF, 9).is_err());
/// assert_eq!(s.engine_version(ModuleTag::TBPF, 499), Some(1));
/// assert_eq!(s.engine_version(ModuleTag::TBPF, 500), Some(2));
/// assert!(s.check_deploy(ModuleTag::LEGACY, 100).is_err());
/// assert!(s.features_at(1000).is_active("abi_v1"));
/// ```
///
/// Every syscall belongs to a feature and is live only from the height the schedule gives that
/// feature (the syscalls of ABI v1 belong to `abi_v1`); a feature no linked syscall declares
/// is refused. Gas schedules after version 1 are listed as `[[gas]]` tables, each overriding
/// some costs of the one before from a height:
///
/// ```
/// let s = tos_host::ActivationSchedule::from_toml_str(r#"
///     network = "local"
///     [features]
///     abi_v1 = 0
///     [[gas]]
///     from = 5000
///     version = 2
///     set = { "syscall.tos_storage_store.base" = 2000 }
/// "#).unwrap();
/// assert_eq!(s.gas_switches()[0].version, 2);
/// let typo = tos_host::ActivationSchedule::from_toml_str(
///     "network = \"x\"\n[features]\nabi_v2_typo = 0\n",
/// );
/// assert!(typo.unwrap_err().to_string().contains("`abi_v2_typo`"));
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ActivationSchedule {
    network: String,
    tags: BTreeMap<ModuleTag, TagSchedule>,
    features: BTreeMap<String, Height>,
    gas: Vec<GasSwitch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    network: String,
    #[serde(default)]
    engines: BTreeMap<String, TagSchedule>,
    #[serde(default)]
    features: BTreeMap<String, Height>,
    #[serde(default)]
    gas: Vec<GasSwitch>,
}

impl ActivationSchedule {
    /// An empty schedule for `network`: nothing is active, and gas schedule version 1 is in
    /// force at every height.
    pub fn new(network: impl Into<String>) -> Self {
        ActivationSchedule {
            network: network.into(),
            tags: BTreeMap::new(),
            features: BTreeMap::new(),
            gas: Vec::new(),
        }
    }

    /// Sets the schedule of `tag`.
    pub fn set_tag(&mut self, tag: ModuleTag, mut schedule: TagSchedule) -> &mut Self {
        schedule.versions.sort_by_key(|v| v.from);
        self.tags.insert(tag, schedule);
        self
    }

    /// Activates syscall feature `name` from `height` on. A name no linked syscall declares
    /// is refused when a [`Host`](crate::Host) is built on the schedule.
    pub fn set_feature(&mut self, name: impl Into<String>, height: Height) -> &mut Self {
        self.features.insert(name.into(), height);
        self
    }

    /// Puts gas schedule `switch.version` in force from `switch.from` on: the version in force
    /// just below with `switch.set` applied. Switches are kept in height order; their heights
    /// must be above 0 and their versions above 1 and rising with height, which
    /// [`Host::new`](crate::Host::new) checks along with the cost names.
    pub fn set_gas(&mut self, switch: GasSwitch) -> &mut Self {
        self.gas.retain(|g| g.from != switch.from);
        self.gas.push(switch);
        self.gas.sort_by_key(|g| g.from);
        self
    }

    /// The gas schedule switches after version 1, by height.
    pub fn gas_switches(&self) -> &[GasSwitch] {
        &self.gas
    }

    /// Heights at which anything of the protocol changes (a feature activates, a gas schedule
    /// switches), with 0, sorted and unique.
    pub fn protocol_heights(&self) -> Vec<Height> {
        let mut h: Vec<Height> = std::iter::once(0)
            .chain(self.features.values().copied())
            .chain(self.gas.iter().map(|g| g.from))
            .collect();
        h.sort_unstable();
        h.dedup();
        h
    }

    /// Checks what only this node can know: that every feature the schedule names is declared
    /// by a linked syscall, and that the gas switches are ordered.
    ///
    /// # Errors
    /// [`ScheduleError::Protocol`] naming the unknown feature (and the known ones) or the bad
    /// switch.
    pub fn check(&self) -> Result<(), ScheduleError> {
        let protocol = |message: String| ScheduleError::Protocol {
            network: self.network.clone(),
            message,
        };
        let table = tos_syscalls::SyscallTable::global()
            .map_err(|e| protocol(format!("the syscall table is inconsistent: {e}")))?;
        let declared = table.features();
        if let Some(unknown) = self
            .features
            .keys()
            .find(|f| !declared.contains(f.as_str()))
        {
            let known: Vec<&str> = declared.iter().copied().collect();
            return Err(protocol(format!(
                "feature `{unknown}` is declared by no linked syscall (known features: {})",
                known.join(", ")
            )));
        }
        let mut last = (0, 1);
        for g in &self.gas {
            if g.from == 0 {
                return Err(protocol(format!(
                    "gas schedule version {} starts at height 0; version 1 is in force there",
                    g.version
                )));
            }
            if g.version <= last.1 {
                return Err(protocol(format!(
                    "gas schedule version {} at height {} does not follow version {} at height {}",
                    g.version, g.from, last.1, last.0
                )));
            }
            last = (g.from, g.version);
        }
        Ok(())
    }

    /// The network's name.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The schedule of `tag`, if the network activates it.
    pub fn tag(&self, tag: ModuleTag) -> Option<&TagSchedule> {
        self.tags.get(&tag)
    }

    /// Tags the schedule mentions, in order.
    pub fn tags(&self) -> impl Iterator<Item = (ModuleTag, &TagSchedule)> {
        self.tags.iter().map(|(t, s)| (*t, s))
    }

    /// Feature activation heights, by name.
    pub fn features(&self) -> impl Iterator<Item = (&str, Height)> {
        self.features.iter().map(|(n, h)| (n.as_str(), *h))
    }

    /// Mainnet: legacy contracts since genesis, TBPF from 1,500,000, legacy deploys sunset at
    /// 2,000,000. Wasm is not activated. ABI v1 is live from genesis, ABI v2 (calls between
    /// contracts) from 1,800,000; gas schedule version 1.
    pub fn mainnet() -> Self {
        Self::preset("mainnet", (0, Some(2_000_000)), 1_500_000, None, 1_800_000)
    }

    /// Testnet: TBPF from 100,000, ABI v2 from 200,000, wasm from 400,000, legacy deploys
    /// sunset at 500,000.
    pub fn testnet() -> Self {
        Self::preset(
            "testnet",
            (0, Some(500_000)),
            100_000,
            Some(400_000),
            200_000,
        )
    }

    /// Devnet: every engine and ABI v2 from genesis; legacy deploys sunset early, at height
    /// 1,000.
    pub fn devnet() -> Self {
        Self::preset("devnet", (0, Some(1_000)), 0, Some(0), 0)
    }

    fn preset(
        name: &str,
        legacy: (Height, Option<Height>),
        tbpf: Height,
        wasm: Option<Height>,
        abi_v2: Height,
    ) -> Self {
        let v1 = |from| vec![VersionSwitch { from, version: 1 }];
        let mut s = Self::new(name);
        s.set_feature(tos_syscalls::ABI_V1, 0);
        s.set_feature(tos_syscalls::ABI_V2, abi_v2);
        s.set_tag(
            ModuleTag::LEGACY,
            TagSchedule {
                deploy_from: legacy.0,
                deploy_until: legacy.1,
                versions: v1(0),
            },
        );
        s.set_tag(
            ModuleTag::TBPF,
            TagSchedule {
                deploy_from: tbpf,
                deploy_until: None,
                versions: v1(tbpf),
            },
        );
        if let Some(wasm) = wasm {
            s.set_tag(
                ModuleTag::WASM,
                TagSchedule {
                    deploy_from: wasm,
                    deploy_until: None,
                    // Version 2: the hardened wasm engine (deterministic stack, structural
                    // limits before compiling, paid instantiation). No network ran version 1.
                    versions: vec![VersionSwitch {
                        from: wasm,
                        version: 2,
                    }],
                },
            );
        }
        s
    }

    /// A preset by name (`mainnet`, `testnet`, `devnet`).
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "mainnet" => Some(Self::mainnet()),
            "testnet" => Some(Self::testnet()),
            "devnet" => Some(Self::devnet()),
            _ => None,
        }
    }

    /// Loads a schedule from a TOML file (format in the crate docs and README).
    ///
    /// # Errors
    /// [`ScheduleError`] naming the file and the problem.
    pub fn from_toml_file(path: &Path) -> Result<Self, ScheduleError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScheduleError::Io {
            path: p.clone(),
            source,
        })?;
        Self::parse(&text, &p)
    }

    /// Parses a schedule from TOML text.
    ///
    /// # Errors
    /// [`ScheduleError`] naming the problem.
    pub fn from_toml_str(text: &str) -> Result<Self, ScheduleError> {
        Self::parse(text, "<string>")
    }

    fn parse(text: &str, path: &str) -> Result<Self, ScheduleError> {
        let file: ScheduleFile = toml::from_str(text).map_err(|e| {
            // One line: the parser's message, and where (its Display is a multi-line snippet).
            let place = e.span().map(|span| {
                let before = text.get(..span.start).unwrap_or(text);
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("line {line}, column {column}: ")
            });
            ScheduleError::Parse {
                path: path.to_owned(),
                message: format!("{}{}", place.unwrap_or_default(), e.message().trim()),
            }
        })?;
        let invalid = |message: String| ScheduleError::Invalid {
            path: path.to_owned(),
            message,
        };
        let mut s = Self::new(file.network);
        for (name, tag_schedule) in file.engines {
            let tag = ModuleTag::from_name(&name)
                .or_else(|| name.parse::<u8>().ok().map(ModuleTag))
                .ok_or_else(|| {
                    invalid(format!(
                        "unknown engine `{name}` (use legacy, tbpf, wasm or a tag number)"
                    ))
                })?;
            let first = tag_schedule.versions.iter().map(|v| v.from).min();
            match first {
                None => return Err(invalid(format!("engine `{name}` lists no versions"))),
                Some(f) if f > tag_schedule.deploy_from => {
                    return Err(invalid(format!(
                        "engine `{name}` accepts deploys from {} but its first version starts at {f}",
                        tag_schedule.deploy_from
                    )));
                }
                _ => {}
            }
            if tag_schedule
                .deploy_until
                .is_some_and(|u| u <= tag_schedule.deploy_from)
            {
                return Err(invalid(format!(
                    "engine `{name}`: deploy_until must be above deploy_from"
                )));
            }
            let mut froms: Vec<Height> = tag_schedule.versions.iter().map(|v| v.from).collect();
            froms.sort_unstable();
            if froms.windows(2).any(|w| w[0] == w[1]) {
                return Err(invalid(format!(
                    "engine `{name}` switches version twice at one height"
                )));
            }
            s.set_tag(tag, tag_schedule);
        }
        s.features = file.features;
        for g in file.gas {
            s.set_gas(g);
        }
        s.check().map_err(|e| match e {
            ScheduleError::Protocol { message, .. } => invalid(message),
            other => other,
        })?;
        Ok(s)
    }

    /// Whether a module of `tag` may be deployed at `height`.
    ///
    /// # Errors
    /// [`ActivationError`] naming the tag, the height and the activation or sunset height.
    pub fn check_deploy(&self, tag: ModuleTag, height: Height) -> Result<(), ActivationError> {
        let network = || self.network.clone();
        let s = self
            .tags
            .get(&tag)
            .ok_or_else(|| ActivationError::NotScheduled {
                tag,
                network: network(),
            })?;
        if height < s.deploy_from {
            return Err(ActivationError::NotYetActive {
                tag,
                network: network(),
                height,
                from: s.deploy_from,
            });
        }
        if let Some(since) = s.deploy_until.filter(|u| height >= *u) {
            return Err(ActivationError::Sunset {
                tag,
                network: network(),
                height,
                since,
            });
        }
        Ok(())
    }

    /// The engine version serving `tag` at `height`: the last switch at or below `height`.
    /// `None` when the tag is not scheduled or no version has started yet.
    pub fn engine_version(&self, tag: ModuleTag, height: Height) -> Option<u32> {
        let s = self.tags.get(&tag)?;
        s.versions
            .iter()
            .rev()
            .find(|v| v.from <= height)
            .map(|v| v.version)
    }

    /// The gas schedule version in force at `height` and the switches up to it, oldest first.
    pub fn gas_at(&self, height: Height) -> (u32, impl Iterator<Item = &GasSwitch>) {
        let upto = self.gas.partition_point(|g| g.from <= height);
        let version = self.gas[..upto].last().map_or(1, |g| g.version);
        (version, self.gas[..upto].iter())
    }

    /// The syscall features live at `height`.
    pub fn features_at(&self, height: Height) -> FeatureSet {
        self.features
            .iter()
            .filter(|(_, h)| **h <= height)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Whether feature `name` is live at `height`.
    pub fn is_feature_active(&self, name: &str, height: Height) -> bool {
        self.features.get(name).is_some_and(|h| *h <= height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deploy_below_activation_names_the_height() {
        let s = ActivationSchedule::mainnet();
        let e = s.check_deploy(ModuleTag::TBPF, 1_499_999).unwrap_err();
        assert!(e.to_string().contains("from height 1500000"), "{e}");
        s.check_deploy(ModuleTag::TBPF, 1_500_000).unwrap();
        assert!(matches!(
            s.check_deploy(ModuleTag::WASM, 5),
            Err(ActivationError::NotScheduled { .. })
        ));
        assert!(matches!(
            s.check_deploy(ModuleTag(7), 5),
            Err(ActivationError::NotScheduled { .. })
        ));
    }

    #[test]
    fn sunset_refuses_deploys_from_its_height() {
        let s = ActivationSchedule::devnet();
        s.check_deploy(ModuleTag::LEGACY, 999).unwrap();
        let e = s.check_deploy(ModuleTag::LEGACY, 1_000).unwrap_err();
        assert_eq!(
            e,
            ActivationError::Sunset {
                tag: ModuleTag::LEGACY,
                network: "devnet".into(),
                height: 1_000,
                since: 1_000
            }
        );
        assert_eq!(
            s.engine_version(ModuleTag::LEGACY, 5_000_000),
            Some(1),
            "old contracts keep running"
        );
    }

    #[test]
    fn toml_errors_name_the_problem() {
        let bad = [
            ("network = 1", "not valid"),
            (
                "network = \"x\"\n[engines.evm]\ndeploy_from = 0\nversions = [{from = 0, version = 1}]",
                "unknown engine `evm`",
            ),
            (
                "network = \"x\"\n[engines.tbpf]\ndeploy_from = 0\nversions = []",
                "lists no versions",
            ),
            (
                "network = \"x\"\n[engines.tbpf]\ndeploy_from = 0\nversions = [{from = 5, version = 1}]",
                "first version starts at 5",
            ),
            (
                "network = \"x\"\n[engines.tbpf]\ndeploy_from = 5\ndeploy_until = 5\nversions = [{from = 0, version = 1}]",
                "deploy_until",
            ),
            ("network = \"x\"\nsurprise = 1", "not valid"),
            (
                "network = \"x\"\n[features]\nabi_v1 = 0\nabi_vl = 5",
                "feature `abi_vl` is declared by no linked syscall (known features: abi_v1",
            ),
            (
                "network = \"x\"\n[[gas]]\nfrom = 0\nversion = 2",
                "version 1 is in force there",
            ),
            (
                "network = \"x\"\n[[gas]]\nfrom = 9\nversion = 3\n[[gas]]\nfrom = 10\nversion = 2",
                "version 2 at height 10 does not follow version 3 at height 9",
            ),
            (
                "network = \"x\"\n[[gas]]\nfrom = 9\nversion = 1",
                "does not follow version 1 at height 0",
            ),
        ];
        for (text, needle) in bad {
            let e = ActivationSchedule::from_toml_str(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e} should contain {needle}");
        }
    }
}
