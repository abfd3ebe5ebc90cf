// Validates custom resources against their CRDs' schemas (as compiled by @kubernetes-models/*).
// stdin: a JSON array of objects; stdout: a JSON array, per object null (valid), a list of errors,
// or {"unknown": "<why>"} when no schema of that kind is installed here.
import { readFileSync } from "node:fs";

const PACKAGES = {
  "keda.sh": "@kubernetes-models/keda",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "gateway.networking.k8s.io": "@kubernetes-models/gateway-api",
};

async function validate(obj) {
  const [group, version] = String(obj.apiVersion ?? "").split("/");
  const pkg = PACKAGES[group];
  if (!pkg || !version) return { unknown: `no validator for ${obj.apiVersion}` };
  let model;
  try {
    model = (await import(`${pkg}/${group}/${version}/${obj.kind}`))[obj.kind];
  } catch (error) {
    return { unknown: `${pkg} has no ${obj.apiVersion} ${obj.kind}` };
  }
  try {
    new model(obj).validate();
    return null;
  } catch (error) {
    return String(error.message).split(", ");
  }
}

const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const obj of objects) results.push(await validate(obj));
process.stdout.write(JSON.stringify(results));
