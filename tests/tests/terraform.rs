//! The terraform mixin end to end with the host driver: a stand-in
//! `terraform` program records its argv and environment, writes a state
//! file on apply and prints outputs as `terraform output -json` does; the
//! bundle keeps `terraform.tfstate` between actions with Porter's `state:`.

use wasmix_e2e::Sandbox;

const FAKE: &str = r#"#!/bin/sh
log="$(dirname "$0")/../calls.log"
echo "tf $* TF_LOG=${TF_LOG:-} cwd=$(basename "$PWD")" >> "$log"
case "$1" in
  version) echo '{"terraform_version":"1.2.9","platform":"linux_amd64"}' ;;
  apply) echo '{"serial":1}' > terraform.tfstate ;;
  output) echo '{"host":"10.0.0.7","ports":[80,443]}' ;;
  destroy) echo "state was $(cat terraform.tfstate 2>/dev/null || echo missing)" >> "$log" ;;
esac
"#;

fn manifest(bin: &str, client: &str) -> String {
    format!(
        r#"schemaVersion: 1.0.0
name: tf
version: 0.1.0
mixins:
  - terraform:
      clientVersion: {client}
      binary: {bin}
parameters:
  - name: region
    type: string
    default: eu-west-1
outputs:
  - name: endpoint
state:
  - name: tfstate
    path: /cnab/app/terraform/terraform.tfstate
    mixin: terraform
install:
  - terraform:
      description: Create
      logLevel: TRACE
      backendConfig:
        key: my.tfstate
      vars:
        region: ${{ bundle.parameters.region }}
        count: 2
      outputs:
        - name: endpoint
      grants: {{commands: [{bin}]}}
uninstall:
  - terraform:
      description: Destroy
      vars:
        region: ${{ bundle.parameters.region }}
      grants: {{commands: [{bin}]}}
"#
    )
}

fn bundle(sb: &Sandbox, name: &str, client: &str) -> std::path::PathBuf {
    let dir = sb.bundle(
        name,
        "placeholder",
        &[
            ("terraform/main.tf", "# resources\n"),
            ("bin/terraform", FAKE),
        ],
    );
    let bin = dir.join("bin/terraform");
    wasmix_e2e::make_executable(&bin);
    std::fs::write(
        dir.join("porter.yaml"),
        manifest(bin.to_str().unwrap(), client),
    )
    .unwrap();
    dir
}

#[test]
fn terraform_runs_init_apply_and_outputs_and_keeps_its_state_between_actions() {
    let sb = Sandbox::new();
    let dir = bundle(&sb, "tf", "1.2.9");
    let b = dir.to_str().unwrap();
    sb.wasmix(&["install", b, "--param", "region=us-east-2"])
        .expect_code(0);
    let calls = std::fs::read_to_string(dir.join("calls.log")).unwrap();
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(
        lines,
        [
            "tf version -json TF_LOG=TRACE cwd=terraform",
            "tf init -backend=true -backend-config=key=my.tfstate -reconfigure TF_LOG=TRACE cwd=terraform",
            "tf apply -auto-approve -input=false -var count=2 -var region=us-east-2 TF_LOG=TRACE cwd=terraform",
            "tf output -json endpoint TF_LOG=TRACE cwd=terraform",
        ]
    );
    // A JSON output is kept as compact JSON, as Porter's mixin keeps it.
    sb.wasmix(&["installation", "output", "show", "tf", "endpoint"])
        .expect_code(0)
        .expect_stdout(r#"{"host":"10.0.0.7","ports":[80,443]}"#);
    // The state went to the store, not left in the bundle directory...
    assert!(!dir.join("terraform/terraform.tfstate").exists());
    // ...and is back for the next action.
    sb.wasmix(&["uninstall", b]).expect_code(0);
    let calls = std::fs::read_to_string(dir.join("calls.log")).unwrap();
    assert!(
        calls.contains(
            "tf destroy -auto-approve -input=false -var region=us-east-2 TF_LOG= cwd=terraform"
        ),
        "{calls}"
    );
    assert!(calls.contains("state was {\"serial\":1}"), "{calls}");
}

#[test]
fn terraform_checks_the_client_version_and_what_each_action_takes() {
    let sb = Sandbox::new();
    let dir = bundle(&sb, "old", "1.5.0");
    sb.wasmix(&["install", dir.to_str().unwrap()])
        .expect_code(1)
        .expect_stdout("terraform 1.2.9 found, the bundle's clientVersion is 1.5.0");
    // Porter's schema: an uninstall step takes no `arguments`.
    let text = std::fs::read_to_string(dir.join("porter.yaml"))
        .unwrap()
        .replace(
            "      description: Destroy\n",
            "      description: Destroy\n      arguments: [x]\n",
        );
    std::fs::write(dir.join("porter.yaml"), text).unwrap();
    sb.wasmix(&["lint", dir.to_str().unwrap()])
        .expect_code(2)
        .expect_stderr("terraform-101")
        .expect_stderr("`arguments` does not apply to uninstall");
}
