//! The typed manifest.

use super::SourceMap;
use serde::Deserialize;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use semver::VersionReq;

/// A loaded, validated `porter.yaml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file.
    pub file: PathBuf,
    /// The bundle directory (the file's parent).
    pub dir: PathBuf,
    /// Positions of every node, for errors found after loading.
    pub source: SourceMap,
    /// `schemaType` (Porter writes `Bundle`).
    pub schema_type: Option<String>,
    /// `schemaVersion`; decides the template delimiters.
    pub schema_version: Option<String>,
    /// Bundle name.
    pub name: String,
    /// Bundle version.
    pub version: String,
    /// One-line description.
    pub description: Option<String>,
    /// Registry the bundle is published to.
    pub registry: Option<String>,
    /// Full bundle reference.
    pub reference: Option<String>,
    /// Dockerfile template (Porter only; ignored by wasmix).
    pub dockerfile: Option<String>,
    /// Maintainers.
    pub maintainers: Vec<Maintainer>,
    /// Declared mixins.
    pub mixins: Vec<MixinDecl>,
    /// Parameters.
    pub parameters: Vec<Parameter>,
    /// Credentials.
    pub credentials: Vec<Credential>,
    /// Bundle outputs.
    pub outputs: Vec<OutputDef>,
    /// Every action (install, upgrade, uninstall, custom) by name.
    pub actions: BTreeMap<String, Vec<Step>>,
    /// Metadata for custom actions.
    pub custom_actions: BTreeMap<String, CustomActionDef>,
    /// State variables.
    pub state: Vec<StateVar>,
    /// Bundles this one needs installed first.
    pub dependencies: Option<Dependencies>,
    /// Referenced images.
    pub images: BTreeMap<String, Image>,
    /// Required extensions.
    pub required: Vec<Value>,
    /// Free-form custom metadata.
    pub custom: Value,
}

impl Manifest {
    /// True when templates use Porter's old `{{ }}` delimiters.
    pub fn uses_mustache_delimiters(&self) -> bool {
        matches!(self.schema_version.as_deref(), None | Some("1.0.0-alpha.1"))
    }

    /// The declaration of mixin `name`.
    pub fn mixin(&self, name: &str) -> Option<&MixinDecl> {
        self.mixins.iter().find(|m| m.name == name)
    }

    /// The steps of `action`.
    pub fn action(&self, action: &str) -> Option<&[Step]> {
        self.actions.get(action).map(Vec::as_slice)
    }
}

/// A maintainer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintainer {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// URL.
    #[serde(default)]
    pub url: Option<String>,
}

/// A mixin declared under `mixins:`.
#[derive(Debug, Clone)]
pub struct MixinDecl {
    /// The mixin's name (`exec`).
    pub name: String,
    /// A version constraint (`exec@1.2`), if given.
    pub version: Option<String>,
    /// The mixin's configuration, `grants` removed.
    pub config: Value,
    /// Grants for every step of this mixin.
    pub grants: GrantSpec,
    /// Limits for every step of this mixin.
    pub limits: LimitSpec,
    /// OCI reference to pull the component from (`reference:` in its
    /// declaration), instead of the local mixin path.
    pub reference: Option<String>,
    /// Path in the document, for errors.
    pub path: String,
}

/// Which actions a parameter, credential or output applies to (empty: all).
pub type ApplyTo = Vec<String>;

/// True when `apply_to` includes `action` (an empty list includes all).
pub fn applies(apply_to: &[String], action: &str) -> bool {
    apply_to.is_empty() || apply_to.iter().any(|a| a == action)
}

/// A parameter.
#[derive(Debug, Clone, Deserialize)]
pub struct Parameter {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON type: string, integer, number, boolean, object, array, file.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Default value; a parameter without one is required.
    #[serde(default)]
    pub default: Option<Value>,
    /// Allowed values.
    #[serde(default, rename = "enum")]
    pub allowed: Option<Vec<Value>>,
    /// Environment variable name in Porter's invocation image.
    #[serde(default)]
    pub env: Option<String>,
    /// File path in Porter's invocation image.
    #[serde(default)]
    pub path: Option<String>,
    /// Actions it applies to.
    #[serde(default, rename = "applyTo")]
    pub apply_to: ApplyTo,
    /// Masked in logs and stored apart.
    #[serde(default)]
    pub sensitive: bool,
    /// Kept from one action to the next.
    #[serde(default)]
    pub persistent: bool,
    /// Where the value comes from when not given.
    #[serde(default)]
    pub source: Option<ParameterSource>,
    /// Explicitly required (the default is: required when there is no default).
    #[serde(default)]
    pub required: Option<bool>,
    /// Extra JSON schema keywords Porter allows (minimum, maxLength, …).
    #[serde(flatten)]
    pub schema: BTreeMap<String, Value>,
}

/// A parameter's source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSource {
    /// An installation output of the same bundle.
    #[serde(default)]
    pub output: Option<String>,
    /// A dependency's output.
    #[serde(default)]
    pub dependency: Option<String>,
}

/// A credential.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Environment variable name in Porter's invocation image.
    #[serde(default)]
    pub env: Option<String>,
    /// File path in Porter's invocation image.
    #[serde(default)]
    pub path: Option<String>,
    /// Required (Porter's default: true).
    #[serde(default = "yes")]
    pub required: bool,
    /// Actions it applies to.
    #[serde(default, rename = "applyTo")]
    pub apply_to: ApplyTo,
}

fn yes() -> bool {
    true
}

/// A bundle output.
#[derive(Debug, Clone, Deserialize)]
pub struct OutputDef {
    /// Name; a step output of the same name fills it.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON type.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Default value.
    #[serde(default)]
    pub default: Option<Value>,
    /// Actions it applies to.
    #[serde(default, rename = "applyTo")]
    pub apply_to: ApplyTo,
    /// Masked and stored apart.
    #[serde(default)]
    pub sensitive: bool,
    /// File path in Porter's invocation image.
    #[serde(default)]
    pub path: Option<String>,
    /// Extra JSON schema keywords Porter allows (`$id`, `pattern`, `enum`,
    /// …): checked by the loader, enforced on the value after the action.
    #[serde(flatten)]
    pub schema: BTreeMap<String, Value>,
}

/// Metadata for a custom action.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomActionDef {
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the action modifies resources.
    #[serde(default)]
    pub modifies: bool,
    /// Whether the action can run without an installation.
    #[serde(default)]
    pub stateless: bool,
}

/// A state variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateVar {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Path in Porter's invocation image.
    pub path: String,
    /// The mixin whose steps use it: every step of that mixin is granted it.
    #[serde(default)]
    pub mixin: Option<String>,
}

/// Dependencies: the bundles this one needs installed first (Porter's
/// `dependencies`, both the v1 list and PEP003's v2 fields).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependencies {
    /// Required bundles, in the order written.
    #[serde(default)]
    pub requires: Vec<Dependency>,
    /// The interface this bundle provides to others.
    #[serde(default)]
    pub provides: Option<Provides>,
}

/// What a bundle declares it can stand in for (`dependencies.provides`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provides {
    /// The interface it implements.
    #[serde(default)]
    pub interface: Option<InterfaceId>,
}

/// An interface named by id.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceId {
    /// The interface's URI (`https://porter.sh/interfaces/mysql`).
    pub id: String,
}

/// One dependency.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// The name the bundle refers to it by (`bundle.dependencies.NAME`).
    pub name: String,
    /// Which bundle satisfies it.
    pub bundle: DependencyBundle,
    /// Parameters passed to it: literal text or templates over the parent's
    /// parameters, credentials and other dependencies' outputs.
    #[serde(default)]
    pub parameters: BTreeMap<String, Scalar>,
    /// Credentials passed to it, as templates like `parameters`.
    #[serde(default)]
    pub credentials: BTreeMap<String, Scalar>,
    /// Whether it shares an installation with other bundles (v2).
    #[serde(default)]
    pub sharing: Option<Sharing>,
    /// Outputs promoted from it to the parent bundle (v2): templates over
    /// `outputs.NAME` (this dependency's) and `bundle.dependencies.*`.
    #[serde(default)]
    pub outputs: BTreeMap<String, Scalar>,
}

/// A YAML scalar written where Porter takes text (`port: 5432` is `"5432"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Scalar(s)),
            Value::Bool(b) => Ok(Scalar(b.to_string())),
            Value::Number(n) => Ok(Scalar(n.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected text, a number or a boolean, found {}",
                match other {
                    Value::Null => "nothing",
                    Value::Sequence(_) => "a list",
                    Value::Mapping(_) => "a mapping",
                    _ => "a tagged value",
                }
            ))),
        }
    }
}

/// How a dependency is shared (v2): `mode: true` with a group reuses one
/// installation, named after the dependency, for every bundle of the group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sharing {
    /// Shared (`true`) or not.
    #[serde(default)]
    pub mode: bool,
    /// The sharing group.
    #[serde(default)]
    pub group: Option<SharingGroup>,
}

/// A sharing group.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharingGroup {
    /// The group's name; bundles share a dependency only within one group.
    pub name: String,
}

/// A dependency's bundle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependencyBundle {
    /// Interface id this dependency satisfies (v2 shorthand for
    /// `interface.id`).
    #[serde(default)]
    pub id: Option<String>,
    /// OCI reference.
    pub reference: String,
    /// Semver range the tag must satisfy (the newest matching tag of the
    /// reference's repository is used).
    #[serde(default)]
    pub version: Option<String>,
    /// The interface the dependency must provide (v2).
    #[serde(default)]
    pub interface: Option<Interface>,
}

/// The interface a dependency must satisfy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// The bundle must declare `dependencies.provides.interface.id` equal
    /// to this.
    #[serde(default)]
    pub id: Option<String>,
    /// A bundle whose parameters, credentials and outputs define the
    /// interface.
    #[serde(default)]
    pub reference: Option<String>,
    /// An inline interface: the names the bundle must declare.
    #[serde(default)]
    pub document: Option<InterfaceDocument>,
}

/// An inline interface document: a bundle satisfies it when it declares at
/// least these parameters, credentials and outputs, by name, and of the
/// same `type` where the document gives one. `description`, `default`,
/// `required`, `sensitive` and `$id` describe the interface for its readers
/// and are not compared; anything else is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceDocument {
    /// Outputs (a list of `{name: …}` or a map keyed by name).
    #[serde(default, deserialize_with = "entries")]
    pub outputs: Vec<InterfaceEntry>,
    /// Parameters.
    #[serde(default, deserialize_with = "entries")]
    pub parameters: Vec<InterfaceEntry>,
    /// Credentials.
    #[serde(default, deserialize_with = "entries")]
    pub credentials: Vec<InterfaceEntry>,
}

/// One name an interface requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceEntry {
    /// The name the bundle must declare.
    pub name: String,
    /// The type it must declare, when given.
    pub kind: Option<String>,
}

/// Keys of an interface entry: `type` is compared, the rest describe.
const ENTRY_KEYS: &[&str] = &[
    "name",
    "type",
    "description",
    "default",
    "required",
    "sensitive",
    "$id",
];

fn entry<E: serde::de::Error>(
    name: String,
    body: Option<&serde_yaml::Mapping>,
) -> Result<InterfaceEntry, E> {
    let mut kind = None;
    for (k, v) in body.into_iter().flatten() {
        let key = k.as_str().unwrap_or_default();
        if !ENTRY_KEYS.contains(&key) {
            return Err(E::custom(format!(
                "interface entry {name:?}: `{key}` is not checked; interface entries take {}",
                ENTRY_KEYS.join(", ")
            )));
        }
        if key == "type" {
            kind = v.as_str().map(str::to_string);
        }
    }
    Ok(InterfaceEntry { name, kind })
}

/// Entries from a list of `{name: …}` (porter.yaml's spelling) or a map
/// keyed by name (bundle.json's).
fn entries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<InterfaceEntry>, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let name = k
                    .as_str()
                    .ok_or_else(|| D::Error::custom("interface names must be text"))?;
                entry(name.to_string(), v.as_mapping())
            })
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|i| {
                let name = i
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| D::Error::custom("each interface entry needs a `name`"))?;
                entry(name.to_string(), i.as_mapping())
            })
            .collect(),
        _ => Err(D::Error::custom(
            "expected a list of {name: …} entries or a map keyed by name",
        )),
    }
}

/// An image a bundle refers to (`bundle.images.NAME.*` in templates).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Repository.
    pub repository: String,
    /// Digest.
    #[serde(default)]
    pub digest: Option<String>,
    /// Tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Image type (docker, oci).
    #[serde(default, rename = "imageType")]
    pub image_type: Option<String>,
    /// Media type.
    #[serde(default, rename = "mediaType")]
    pub media_type: Option<String>,
    /// Size.
    #[serde(default)]
    pub size: Option<u64>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One step of an action.
#[derive(Debug, Clone)]
pub struct Step {
    /// The mixin handling it.
    pub mixin: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// The body the mixin receives (`grants` removed), not yet rendered.
    pub body: Value,
    /// Grants written on the step.
    pub grants: GrantSpec,
    /// Limits written on the step.
    pub limits: LimitSpec,
    /// Path in the document (`install[0].exec`), for errors.
    pub path: String,
    /// Position in its action, from 0.
    pub index: usize,
    /// The step's `id:`, by which later steps name its outputs
    /// (`${ steps.ID.outputs.NAME }`); taken out of the body like `grants`.
    pub id: Option<String>,
}

/// Capabilities as written in `porter.yaml` under `grants:`, on a mixin
/// declaration (every step of that mixin) or on a step.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Credentials: `all`, `matching` (those the step's templates use) or a
    /// list of names (`{name, read: true}` to let the mixin read the bytes).
    #[serde(default)]
    pub credentials: Option<CredentialGrantSpec>,
    /// Host environment variables the mixin may read (and `env.*` templates).
    #[serde(default)]
    pub env: Vec<String>,
    /// Directories or files of the bundle the mixin may open.
    #[serde(default)]
    pub files: Vec<FileGrantSpec>,
    /// Programs the `host` driver may start for this step.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Outbound TCP destinations, `host:port` (`port` may be `*`).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Container images the driver may start (by reference, or `repo@sha256:…`).
    #[serde(default)]
    pub images: Vec<String>,
    /// Parameters passed to the mixin as environment variables: `all` or names.
    #[serde(default)]
    pub parameters: Option<ParameterGrantSpec>,
    /// State variables (`state:`) the step may read and write.
    #[serde(default)]
    pub state: Vec<String>,
}

/// Which parameters a step sees as environment variables.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ParameterGrantSpec {
    /// `all`: every parameter that applies to the action.
    Keyword(AllKeyword),
    /// By name.
    List(Vec<String>),
}

/// The keyword `all`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AllKeyword {
    /// Everything.
    All,
}

/// Per-step limits as written under `limits:` (on a step or a mixin
/// declaration); anything left out keeps the runtime's default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Linear memory, e.g. `64Mi`, `1Gi`, or bytes.
    #[serde(default, deserialize_with = "size_text")]
    pub memory: Option<String>,
    /// Wall-clock deadline, e.g. `30s`, `5m`, `1h`.
    #[serde(default)]
    pub deadline: Option<String>,
    /// Cap on captured stdout/stderr, per stream.
    #[serde(default, deserialize_with = "size_text")]
    pub output: Option<String>,
    /// Cap on the total size of the outputs a step returns.
    #[serde(default, deserialize_with = "size_text")]
    pub outputs: Option<String>,
    /// Driver requests per step.
    #[serde(default)]
    pub requests: Option<u32>,
    /// Bytes of log lines a step may emit, e.g. `256Ki`.
    #[serde(default, deserialize_with = "size_text")]
    pub logs: Option<String>,
}

/// A size written as text (`64Mi`) or as a plain number of bytes (`1024`).
fn size_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "a size is bytes or a number with Ki, Mi or Gi (`64Mi`), found {}",
            super::kind_of(&other)
        ))),
    }
}

/// The credentials part of a grant. Read through [`TryFrom`] rather than an
/// untagged enum, whose only error is "did not match any variant": each
/// shape gets a message that says what was expected and where.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(try_from = "Value")]
pub enum CredentialGrantSpec {
    /// `all` or `matching`.
    Keyword(CredentialKeyword),
    /// Named credentials.
    List(Vec<CredentialGrantItem>),
}

/// `all` or `matching`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKeyword {
    /// Every credential that applies to the action.
    All,
    /// Those the step's templates refer to.
    Matching,
}

impl TryFrom<Value> for CredentialGrantSpec {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, String> {
        match v {
            Value::String(s) => match s.as_str() {
                "all" => Ok(CredentialGrantSpec::Keyword(CredentialKeyword::All)),
                "matching" => Ok(CredentialGrantSpec::Keyword(CredentialKeyword::Matching)),
                other => Err(format!(
                    "credentials is `all`, `matching` or a list, found {other:?}"
                )),
            },
            Value::Sequence(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    CredentialGrantItem::try_from(item)
                        .map_err(|e| format!("credentials[{i}]: {e}"))
                })
                .collect::<Result<_, _>>()
                .map(CredentialGrantSpec::List),
            other => Err(format!(
                "credentials is `all`, `matching` or a list, found {}",
                super::kind_of(&other)
            )),
        }
    }
}

/// One named credential in a grant.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(try_from = "Value")]
pub enum CredentialGrantItem {
    /// Use by handle only.
    Name(String),
    /// With options.
    Detailed(CredentialGrantDetail),
}

impl TryFrom<Value> for CredentialGrantItem {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, String> {
        match v {
            Value::String(name) => Ok(CredentialGrantItem::Name(name)),
            v @ Value::Mapping(_) => serde_yaml::from_value(v)
                .map(CredentialGrantItem::Detailed)
                .map_err(|e| e.to_string()),
            other => Err(format!(
                "a credential grant is a name or {{name, read, from, to}}, found {}",
                super::kind_of(&other)
            )),
        }
    }
}

/// A credential grant with options. Unknown keys are refused.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CredentialGrantDetail {
    /// Credential name: a declared credential, or with `from` a name for
    /// this step only.
    pub name: String,
    /// The mixin may read the bytes (`reveal`).
    #[serde(default)]
    pub read: bool,
    /// An earlier step's output (`steps.ID.outputs.NAME`) this credential's
    /// value comes from: it travels as a handle and is masked everywhere.
    #[serde(default)]
    pub from: Option<String>,
    /// The only programs the credential may reach (by handle or its `env:`
    /// destination); empty: any program the step is granted.
    #[serde(default)]
    pub to: Vec<String>,
}

/// One file or directory grant.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileGrantSpec {
    /// Host path, relative to the bundle directory (or absolute).
    pub path: String,
    /// Where the mixin sees it (default `/cnab/app/<path>`).
    #[serde(default, rename = "to")]
    pub guest: Option<String>,
    /// Writable (default read-only).
    #[serde(default)]
    pub write: bool,
}
