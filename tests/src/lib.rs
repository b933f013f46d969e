//! Shared helpers for the end-to-end tests in `tests/tests/`.
//!
//! The tests use real parts: mixin components built from `mixins-wasm/`
//! (`make mixins`), the `wasmix` binary, and real local processes.

use std::path::{Path, PathBuf};
use std::process::Output;

pub mod lying_registry;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Porter's test data, copied into `tests/porter-compat` (see its README).
pub fn porter_compat() -> PathBuf {
    repo_root().join("tests/porter-compat/pkg")
}

/// The directory holding the built mixin components. Set
/// `WASMIX_TEST_MIXINS` to use another one.
pub fn mixin_dir() -> PathBuf {
    let dir = std::env::var_os("WASMIX_TEST_MIXINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("mixins-wasm/target/wasm32-wasip2/release"));
    assert!(
        dir.join("wasmix_exec.wasm").is_file() && dir.join("wasmix_probe.wasm").is_file(),
        "mixin components not found in {}: build them first with `make mixins`",
        dir.display()
    );
    dir
}

/// The `wasmix` binary built beside these tests.
pub fn wasmix_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = dir.join("wasmix");
    assert!(
        bin.is_file(),
        "{} not found: run `cargo build -p wasmix` first",
        bin.display()
    );
    bin
}

/// A private wasmix home and a place for bundles, removed at drop.
pub struct Sandbox {
    /// Temporary directory holding everything.
    pub dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// A new, empty one.
    pub fn new() -> Self {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The wasmix home.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Write a bundle directory `name` with this `porter.yaml` and extra files.
    pub fn bundle(&self, name: &str, manifest: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).expect("bundle dir");
        std::fs::write(dir.join("porter.yaml"), manifest).expect("manifest");
        for (path, content) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
            std::fs::write(&p, content).expect("file");
        }
        dir
    }

    /// Run the CLI with this home and the built mixins.
    pub fn wasmix(&self, args: &[&str]) -> Run {
        self.wasmix_env(args, &[])
    }

    /// Run the CLI against the registry at `addr`: plain HTTP for it only,
    /// a private Docker config (the operator's credentials are never read),
    /// the test keys' password, trust policy `policy` (`None`: the built-in
    /// default), and `env`.
    pub fn wasmix_at(
        &self,
        addr: &str,
        policy: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Run {
        Run(self
            .command_at(addr, policy, args, env)
            .output()
            .expect("run wasmix"))
    }

    /// The command `wasmix_at` runs, to spawn it and kill it mid-way.
    pub fn command_at(
        &self,
        addr: &str,
        policy: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> std::process::Command {
        let docker = self.dir.path().join("docker");
        let mut all: Vec<(&str, &str)> = vec![
            ("WASMIX_INSECURE_REGISTRIES", addr),
            ("DOCKER_CONFIG", docker.to_str().expect("utf-8 path")),
            ("COSIGN_PASSWORD", KEY_PASSWORD),
        ];
        if let Some(p) = policy {
            all.push(("WASMIX_TRUST_POLICY", p.to_str().expect("utf-8 path")));
        }
        all.extend_from_slice(env);
        let mut cmd = std::process::Command::new(wasmix_bin());
        cmd.args(args)
            .env("WASMIX_HOME", self.home())
            .env("WASMIX_MIXIN_PATH", mixin_dir())
            .envs(all.iter().copied());
        cmd
    }

    /// Run the CLI with extra environment variables.
    pub fn wasmix_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = std::process::Command::new(wasmix_bin())
            .args(args)
            .env("WASMIX_HOME", self.home())
            .env("WASMIX_MIXIN_PATH", mixin_dir())
            .envs(env.iter().copied())
            .output()
            .expect("run wasmix");
        Run(out)
    }
}

/// Run `cmd` to completion; return what it printed and its peak resident
/// set size in bytes, read from `wait4`'s resource usage of that one child
/// (not `RUSAGE_CHILDREN`, which other tests' children would pollute).
pub fn run_measuring_rss(mut cmd: std::process::Command) -> (Run, u64) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    // Reaped by `wait4` below, which also reports the child's peak memory.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).expect("read child output");
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills; the pid is our own
    // child, not yet reaped (std's `Child` is never waited on here).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    };
    // Linux reports ru_maxrss in KiB.
    let peak = u64::try_from(usage.ru_maxrss).expect("non-negative") * 1024;
    (Run(output), peak)
}

/// A finished CLI run.
pub struct Run(pub Output);

impl Run {
    /// Exit code.
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    /// Standard output.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    /// Standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Both, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
    /// Assert the exit code.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), code, "{}", self.all());
        self
    }
    /// Assert standard output contains `text`.
    #[track_caller]
    pub fn expect_stdout(&self, text: &str) -> &Self {
        assert!(
            self.stdout().contains(text),
            "stdout lacks {text:?}\n{}",
            self.all()
        );
        self
    }
    /// Assert standard error contains `text`.
    #[track_caller]
    pub fn expect_stderr(&self, text: &str) -> &Self {
        assert!(
            self.stderr().contains(text),
            "stderr lacks {text:?}\n{}",
            self.all()
        );
        self
    }
}

/// The password of test signing keys.
pub const KEY_PASSWORD: &str = "wasmix-test-password";

/// Files of a test signing identity.
pub struct TestTrust {
    /// Encrypted private key (cosign format).
    pub key: PathBuf,
    /// Public key.
    pub public: PathBuf,
    /// A trust policy trusting `public` for one registry.
    pub policy: PathBuf,
}

/// A real OCI registry (Debian's `docker-registry`, CNCF distribution) on
/// 127.0.0.1, with a throwaway config and storage; stopped at drop.
pub struct RegistryServer {
    child: std::process::Child,
    /// Storage and config directory.
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl RegistryServer {
    /// Start one, optionally requiring htpasswd basic auth for `(user, password)`.
    pub fn start(auth: Option<(&str, &str)>) -> RegistryServer {
        let bin = [
            "/usr/bin/docker-registry",
            "/usr/local/bin/registry",
            "/usr/bin/registry",
        ]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect(
            "docker-registry is not installed: `apt-get install docker-registry` (.ci/run does)",
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let out = std::process::Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils)");
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.path().join("htpasswd"), &out.stdout).expect("htpasswd file");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wasmix-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).expect("config");
        let child = std::process::Command::new(bin)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            // The access log (one line per request) goes to stdout.
            .stdout(std::fs::File::create(dir.path().join("access.log")).expect("log"))
            .stderr(std::fs::File::create(dir.path().join("registry.log")).expect("log"))
            .spawn()
            .expect("start docker-registry");
        let server = RegistryServer { child, dir, addr };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(&server.addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "registry did not start: {}",
                std::fs::read_to_string(server.dir.path().join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        server
    }

    /// A cosign key pair and a trust policy that trusts it for every
    /// repository of this registry (made on first use, shared by every
    /// sandbox that talks to this registry).
    pub fn trust(&self) -> TestTrust {
        let dir = self.dir.path().join("trust");
        let t = TestTrust {
            key: dir.join("cosign.key"),
            public: dir.join("cosign.pub"),
            policy: dir.join("trust.yaml"),
        };
        if !t.policy.is_file() {
            std::fs::create_dir_all(&dir).expect("trust dir");
            let pair = wasmix_signing::KeyPair::generate().expect("key");
            let pem = pair.to_encrypted_pem(KEY_PASSWORD.as_bytes()).expect("pem");
            std::fs::write(&t.key, pem.as_bytes()).expect("key file");
            std::fs::write(&t.public, pair.public().to_pem()).expect("pub file");
            std::fs::write(
                &t.policy,
                format!(
                    "scopes:\n  - scope: {}/*\n    authorities:\n      - key: cosign.pub\n  - scope: \"*\"\n",
                    self.addr
                ),
            )
            .expect("policy");
        }
        t
    }

    /// Push component `file` to `reference` with the CLI, signed with this
    /// registry's test key when `sign`; returns the manifest digest.
    pub fn push_mixin(
        &self,
        sb: &Sandbox,
        file: impl AsRef<Path>,
        reference: &str,
        sign: bool,
    ) -> String {
        let key = self.trust().key;
        let file = file.as_ref().to_str().expect("utf-8 path").to_string();
        let mut args = vec!["mixin", "push", &file, reference, "--output", "json"];
        if sign {
            args.extend(["--sign", "--key", key.to_str().expect("utf-8 path")]);
        }
        let run = sb.wasmix_at(&self.addr, None, &args, &[]);
        run.expect_code(0);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
        doc["digest"].as_str().expect("digest").to_string()
    }

    /// Sign what `reference` points at with this registry's test key.
    pub fn sign(&self, sb: &Sandbox, reference: &str) {
        let key = self.trust().key;
        sb.wasmix_at(
            &self.addr,
            None,
            &[
                "mixin",
                "sign",
                reference,
                "--key",
                key.to_str().expect("utf-8 path"),
            ],
            &[],
        )
        .expect_code(0);
    }

    /// Push raw `blobs` and `manifest` to `repository:tag` here, bypassing
    /// wasmix: how an attacker with push rights writes what they like.
    pub fn push_raw(
        &self,
        repository: &str,
        tag: &str,
        manifest: &[u8],
        blobs: &[(String, Vec<u8>)],
    ) {
        self.push_raw_as(
            repository,
            tag,
            manifest,
            blobs,
            "application/vnd.oci.image.manifest.v1+json",
        )
    }

    /// [`Self::push_raw`] with the manifest's media type (an image index, say).
    pub fn push_raw_as(
        &self,
        repository: &str,
        tag: &str,
        manifest: &[u8],
        blobs: &[(String, Vec<u8>)],
        media_type: &'static str,
    ) {
        let client = oci_client::Client::new(oci_client::client::ClientConfig {
            protocol: oci_client::client::ClientProtocol::Http,
            ..Default::default()
        });
        let reference = oci_client::Reference::with_tag(
            self.addr.clone(),
            repository.to_string(),
            tag.to_string(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            client
                .store_auth_if_needed(&self.addr, &oci_client::secrets::RegistryAuth::Anonymous)
                .await;
            client
                .auth(
                    &reference,
                    &oci_client::secrets::RegistryAuth::Anonymous,
                    oci_client::RegistryOperation::Push,
                )
                .await
                .expect("auth");
            for (digest, bytes) in blobs {
                client
                    .push_blob(&reference, bytes.clone(), digest)
                    .await
                    .expect("push blob");
            }
            client
                .push_manifest_raw(
                    &reference,
                    manifest.to_vec(),
                    http::HeaderValue::from_static(media_type),
                )
                .await
                .expect("push manifest");
        });
    }

    /// Run skopeo (plain HTTP) on `docker://ADDR/{target}`; its stdout.
    fn skopeo(&self, command: &[&str], target: &str) -> Vec<u8> {
        let out = std::process::Command::new("skopeo")
            .args(command)
            .arg("--tls-verify=false")
            .arg(format!("docker://{}/{target}", self.addr))
            .output()
            .expect("skopeo");
        assert!(
            out.status.success(),
            "skopeo {command:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The raw manifest at `repository:tag` (or `@digest`).
    pub fn manifest_raw(&self, repository: &str, reference: &str) -> Vec<u8> {
        self.skopeo(&["inspect", "--raw"], &format!("{repository}{reference}"))
    }

    /// Delete the manifest at `repository@digest` (with skopeo).
    pub fn delete_digest(&self, repository: &str, digest: &str) {
        self.skopeo(&["delete"], &format!("{repository}@{digest}"));
    }

    /// Delete the manifest at `repository:tag` (with skopeo).
    pub fn delete(&self, repository: &str, tag: &str) {
        self.skopeo(&["delete"], &format!("{repository}:{tag}"));
    }

    /// Requests wasmix made to this registry so far (access-log lines whose
    /// user agent is wasmix's).
    pub fn wasmix_requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"wasmix/"))
            .map(str::to_string)
            .collect()
    }

    /// The blob files of the registry's storage for `digest`.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Stop it now.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The test image: busybox from Debian's `busybox-static`, imported once.
pub const TEST_IMAGE: &str = "localhost/wasmix-test/busybox:1";

/// A stand-in for helm and kubectl images: busybox plus `helm3` and
/// `kubectl` scripts that print the command line they were given (and, for
/// `kubectl get`, a canned value), so tests assert argv exactly.
pub const TOOLS_IMAGE: &str = "localhost/wasmix-test/tools:1";

const HELM3_STANDIN: &str = "#!/bin/sh\necho \"helm3 $*\"\n";
const KUBECTL_STANDIN: &str = "#!/bin/sh\ncase \"$1\" in\n  get) if [ \"$2\" = secret ]; then printf c3VwZXJzZWNyZXQ=; else printf 10.0.0.7; fi ;;\n  *) echo \"kubectl $*\"; [ \"$1\" = apply ] && head -n 1 \"$3\" ;;\nesac\nexit 0\n";

/// A real container engine: `podman system service` exposing the Docker API
/// on a private unix socket (runc, the ulimits that work on these machines).
/// Stopped at drop.
pub struct PodmanService {
    child: std::process::Child,
    /// Socket and config directory.
    pub dir: tempfile::TempDir,
    /// `unix:///…/podman.sock`, for `DOCKER_HOST`.
    pub docker_host: String,
}

impl PodmanService {
    /// Start one and make sure [`TEST_IMAGE`] exists.
    pub fn start() -> PodmanService {
        assert!(
            std::process::Command::new("podman")
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "podman is not installed: `apt-get install podman runc busybox-static` (.ci/run does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("containers.conf");
        std::fs::write(&conf, "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n[engine]\nruntime = \"runc\"\n").expect("conf");
        let sock = dir.path().join("podman.sock");
        let docker_host = format!("unix://{}", sock.display());
        let child = std::process::Command::new("podman")
            .args(["system", "service", "--time=0", &docker_host])
            .env("CONTAINERS_CONF", &conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("service.log")).expect("log"))
            .spawn()
            .expect("start podman system service");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "podman service did not start: {}",
                std::fs::read_to_string(dir.path().join("service.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let service = PodmanService {
            child,
            dir,
            docker_host,
        };
        service.import_test_image();
        service
    }

    fn import_test_image(&self) {
        static IMPORT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = IMPORT.lock().unwrap_or_else(|e| e.into_inner());
        self.import(TEST_IMAGE, &[]);
        self.import(
            TOOLS_IMAGE,
            &[("helm3", HELM3_STANDIN), ("kubectl", KUBECTL_STANDIN)],
        );
    }

    /// Import a busybox image named `name` with extra scripts in /bin.
    fn import(&self, name: &str, scripts: &[(&str, &str)]) {
        if self.podman(&["image", "exists", name]).status.success() {
            return;
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .expect("busybox-static is not installed");
        let root = self.dir.path().join(format!("rootfs-{}", scripts.len()));
        std::fs::create_dir_all(root.join("bin")).expect("rootfs");
        std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
        let applets = [
            "sh", "echo", "cat", "env", "ls", "printf", "true", "false", "sleep", "wc", "touch",
            "id", "head", "tr", "grep",
        ];
        for applet in applets {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
                .expect("applet link");
        }
        for (file, text) in scripts {
            use std::os::unix::fs::PermissionsExt;
            let path = root.join("bin").join(file);
            std::fs::write(&path, text).expect("script");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let tar = self
            .dir
            .path()
            .join(format!("rootfs-{}.tar", scripts.len()));
        let ok = std::process::Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar")
            .success();
        assert!(ok, "tar failed");
        let out = self.podman(&["import", tar.to_str().expect("utf-8 path"), name]);
        assert!(
            out.status.success(),
            "podman import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run the podman CLI against the same storage.
    pub fn podman(&self, args: &[&str]) -> Output {
        std::process::Command::new("podman")
            .args(args)
            .env("CONTAINERS_CONF", self.dir.path().join("containers.conf"))
            .output()
            .expect("podman")
    }

    /// Containers (any state) labelled with this installation.
    pub fn containers_of(&self, installation: &str) -> Vec<String> {
        let out = self.podman(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=dev.wasmix.installation={installation}"),
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Make `path` executable (0755), as a bundle's scripts are.
pub fn make_executable(path: impl AsRef<Path>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path.as_ref(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
}
