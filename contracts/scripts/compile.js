#!/usr/bin/env node
// Compiles every Solidity source under contracts/src with npm solc (solc-js 0.8.37) and writes one artifact per
// deployable contract to contracts/artifacts/<Name>.json as {abi, bytecode, deployedBytecode}.
// With --check, compiles in memory and exits non-zero if any committed artifact differs from a fresh compile.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', '..', 'node_modules', 'solc'));

const ROOT = path.join(__dirname, '..');
const SRC = path.join(ROOT, 'src');
const OUT = path.join(ROOT, 'artifacts');
const DEPLOYABLE = [
  'Adjudicator', 'PaymentApp', 'RockPaperScissors', 'TestToken', 'FeeOnTransferToken', 'RevertingToken',
  'GasBurningToken', 'FerryHarness',
];

function solidityFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return solidityFiles(full);
    return entry.name.endsWith('.sol') ? [full] : [];
  }).sort();
}

function compile() {
  const sources = {};
  for (const file of solidityFiles(SRC)) {
    sources[path.relative(ROOT, file).split(path.sep).join('/')] = { content: fs.readFileSync(file, 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 10000 },
      viaIR: true,
      evmVersion: 'cancun',
      metadata: { bytecodeHash: 'none', appendCBOR: false },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage + '\n');
  if (errors.length > 0) {
    process.stderr.write(`compile.js: ${errors.length} compiler error(s)\n`);
    process.exit(1);
  }
  const artifacts = {};
  for (const [, contracts] of Object.entries(output.contracts)) {
    for (const [name, c] of Object.entries(contracts)) {
      if (!DEPLOYABLE.includes(name)) continue;
      const artifact = {
        abi: c.abi,
        bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      };
      const size = c.evm.deployedBytecode.object.length / 2;
      if (size > 24576) {
        process.stderr.write(`compile.js: ${name} is ${size} bytes, above the 24,576-byte code-size limit\n`);
        process.exit(1);
      }
      artifacts[name] = JSON.stringify(artifact, null, 2) + '\n';
    }
  }
  for (const name of DEPLOYABLE) {
    if (!artifacts[name]) {
      process.stderr.write(`compile.js: contract ${name} not found in the sources\n`);
      process.exit(1);
    }
  }
  return artifacts;
}

const check = process.argv.includes('--check');
const artifacts = compile();
if (check) {
  let stale = 0;
  const committed = fs.existsSync(OUT) ? fs.readdirSync(OUT).filter((f) => f.endsWith('.json')) : [];
  for (const [name, text] of Object.entries(artifacts)) {
    const file = path.join(OUT, `${name}.json`);
    if (!fs.existsSync(file)) {
      process.stderr.write(`stale artifact: ${name}.json is missing\n`);
      stale++;
    } else if (fs.readFileSync(file, 'utf8') !== text) {
      process.stderr.write(`stale artifact: ${name}.json differs from a fresh compile\n`);
      stale++;
    }
  }
  for (const f of committed) {
    if (!artifacts[f.replace(/\.json$/, '')]) {
      process.stderr.write(`stale artifact: ${f} has no contract in the sources\n`);
      stale++;
    }
  }
  if (stale > 0) {
    process.stderr.write('run `node contracts/scripts/compile.js` and commit contracts/artifacts\n');
    process.exit(1);
  }
  console.log(`artifacts fresh: ${Object.keys(artifacts).length} contracts (solc ${solc.version()})`);
} else {
  fs.mkdirSync(OUT, { recursive: true });
  for (const [name, text] of Object.entries(artifacts)) fs.writeFileSync(path.join(OUT, `${name}.json`), text);
  console.log(`wrote ${Object.keys(artifacts).length} artifacts to contracts/artifacts (solc ${solc.version()})`);
}
