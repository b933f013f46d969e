//! Porter's az, aws and gcloud mixins end to end with the host driver:
//! stand-in programs record their argv and environment and print JSON as
//! the real CLIs do; the bundle is written in Porter's syntax for each.

use wasmix_e2e::Sandbox;

/// One stand-in for all three tools; `$0` says which it is.
const FAKE: &str = r#"#!/bin/sh
tool="$(basename "$0")"
log="$(dirname "$0")/../calls.log"
echo "$tool $* | AZ_UA=${AZURE_HTTP_USER_AGENT:-} AWS_UA=${AWS_EXECUTION_ENV:-}" >> "$log"
case "$tool $1 $2" in
  "az version "*) echo '{"azure-cli": "2.61.0", "extensions": {}}' ;;
  "az extension show") [ "$4" = "aks-preview" ] || { echo "extension $4 not installed" >&2; exit 1; } ;;
  "az group create") echo "ERROR: Resource group already exists" >&2; exit 1 ;;
  "az group delete") echo "ERROR: (ResourceGroupNotFound) gone" >&2; exit 3 ;;
  "az vm create") echo '{"id": "/subscriptions/s1/vm/myVM", "powerState": "VM running"}' ;;
  "az login "*) echo '[]' ;;
  "aws ec2 run-instances") echo '{"Instances": [{"InstanceId": "i-5203422c"}]}' ;;
  "gcloud --quiet compute") echo '[{"id": "101"}, {"id": "102"}]' ;;
  *) echo "unexpected: $*" >&2; exit 9 ;;
esac
"#;

fn manifest(dir: &std::path::Path, client: &str) -> String {
    let bin = |t: &str| dir.join("bin").join(t).display().to_string();
    let (az, aws, gcloud) = (bin("az"), bin("aws"), bin("gcloud"));
    format!(
        r#"schemaVersion: 1.0.0
name: clouds
version: 0.1.0
mixins:
  - az:
      binary: {az}
      clientVersion: {client}
      extensions: [aks-preview]
  - aws:
      binary: {aws}
  - gcloud:
      binary: {gcloud}
outputs:
  - name: vm_id
  - name: instance_id
  - name: vms
install:
  - az:
      description: Ensure the group
      group:
        name: mygroup
        location: westus
      grants: {{commands: [{az}]}}
  - az:
      description: Log in
      login: {{}}
      grants: {{commands: [{az}], env: [AZURE_CLIENT_ID]}}
  - az:
      description: Create a VM
      arguments: [vm, create]
      flags:
        name: myVM
        resource-group: mygroup
        tags: [a=1, b=2]
      outputs:
        - name: vm_id
          jsonPath: $.id
      grants: {{commands: [{az}]}}
  - aws:
      description: Provision VM
      service: ec2
      operation: run-instances
      arguments: [myinst]
      flags:
        image-id: ami-xxxxxxxx
        instance-type: t2.micro
      outputs:
        - name: instance_id
          jsonPath: $.Instances[0].InstanceId
      grants: {{commands: [{aws}]}}
  - gcloud:
      description: List VMs
      groups: [compute, instances]
      command: list
      outputs:
        - name: vms
          jsonPath: $[*].id
      grants: {{commands: [{gcloud}]}}
uninstall:
  - az:
      description: Delete the group
      group:
        name: mygroup
      grants: {{commands: [{az}]}}
"#
    )
}

fn bundle(sb: &Sandbox, client: &str) -> std::path::PathBuf {
    let dir = sb.bundle(
        "clouds",
        "placeholder",
        &[("bin/az", FAKE), ("bin/aws", FAKE), ("bin/gcloud", FAKE)],
    );
    for t in ["az", "aws", "gcloud"] {
        wasmix_e2e::make_executable(dir.join("bin").join(t));
    }
    std::fs::write(dir.join("porter.yaml"), manifest(&dir, client)).unwrap();
    dir
}

fn calls(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn az_aws_and_gcloud_steps_run_as_porters_mixins_build_them() {
    let sb = Sandbox::new();
    let dir = bundle(&sb, "2.61.0");
    let path = dir.to_str().unwrap();
    sb.wasmix_env(&["install", path], &[("AZURE_CLIENT_ID", "client-7")])
        .expect_code(0);
    let calls = calls(&dir);
    let want = [
        // clientVersion and extensions are checked before each az step.
        "az version --output json",
        "az extension show --name aks-preview --output json",
        // The group already exists: Porter's mixin tolerates that.
        "az group create --location westus --name mygroup |",
        "az login --identity --username client-7 |",
        // Flags sorted with --output json among them; a list repeats its flag.
        "az vm create --name myVM --output json --resource-group mygroup --tags a=1 --tags b=2 |",
        "aws ec2 run-instances myinst --image-id ami-xxxxxxxx --instance-type t2.micro --output json |",
        "gcloud --quiet compute instances list --format json |",
    ];
    for w in want {
        assert!(
            calls.iter().any(|c| c.starts_with(w)),
            "no call starting {w:?} in:\n{}",
            calls.join("\n")
        );
    }
    // Each tool's user agent, as its Porter mixin sets it.
    let vm = calls.iter().find(|c| c.starts_with("az vm")).unwrap();
    assert!(vm.contains("AZ_UA=getporter/wasmix getporter/az/v"), "{vm}");
    let ec2 = calls.iter().find(|c| c.starts_with("aws")).unwrap();
    assert!(
        ec2.contains("AWS_UA=getporter/wasmix getporter/aws/v"),
        "{ec2}"
    );

    let out = sb.wasmix(&["installation", "outputs", "clouds", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    let value = |name: &str| {
        doc.as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .map(|o| o["value"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no output {name}: {doc}"))
    };
    assert_eq!(value("vm_id"), "/subscriptions/s1/vm/myVM");
    assert_eq!(value("instance_id"), "i-5203422c");
    assert_eq!(value("vms"), r#"["101","102"]"#);

    // Uninstall deletes the group; "not found" is not a failure.
    sb.wasmix(&["uninstall", "-i", "clouds"]).expect_code(0);
    assert!(calls_of(&dir).contains("az group delete --yes --name mygroup |"));
}

fn calls_of(dir: &std::path::Path) -> String {
    calls(dir).join("\n")
}

#[test]
fn az_config_is_checked_and_porter_schemas_are_enforced() {
    // clientVersion names another az than the one on the host.
    let sb = Sandbox::new();
    let dir = bundle(&sb, "2.50.0");
    let run = sb.wasmix_env(
        &["install", dir.to_str().unwrap()],
        &[("AZURE_CLIENT_ID", "client-7")],
    );
    run.expect_code(1);
    assert!(
        run.all()
            .contains("asks for az 2.50.0 (`clientVersion`), but the az this step runs is 2.61.0"),
        "{}",
        run.all()
    );
    assert!(!calls_of(&dir).contains("group create"), "nothing ran");

    // An aws step without its operation, as Porter's schema refuses.
    let sb = Sandbox::new();
    let dir = bundle(&sb, "2.61.0");
    let text = std::fs::read_to_string(dir.join("porter.yaml"))
        .unwrap()
        .replace("      operation: run-instances\n", "");
    std::fs::write(dir.join("porter.yaml"), text).unwrap();
    let run = sb.wasmix(&["lint", dir.to_str().unwrap()]);
    assert_ne!(run.code(), 0, "{}", run.all());
    assert!(run.all().contains("operation"), "{}", run.all());
}
