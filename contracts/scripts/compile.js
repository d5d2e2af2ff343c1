#!/usr/bin/env node
// Compiles every Solidity source under contracts/src with npm solc (solc-js 0.8.37) and writes one artifact per
// deployable contract to contracts/artifacts/<Name>.json as {abi, bytecode, deployedBytecode}.
// It also compiles the example apps of app builders (EXAMPLES), which import Ferry's types as "ferry/Types.sol",
// and writes each one's artifact next to its source.
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

const REPO = path.join(ROOT, '..');
const EXAMPLES = [{ source: 'simulations/examples/custom_app/Nim.sol', name: 'Nim' }];

function solidityFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return solidityFiles(full);
    return entry.name.endsWith('.sol') ? [full] : [];
  }).sort();
}

function compileSources(sources) {
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 1500 },
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
  return output;
}

function artifactText(c) {
  const artifact = {
    abi: c.abi,
    bytecode: '0x' + c.evm.bytecode.object,
    deployedBytecode: '0x' + c.evm.deployedBytecode.object,
  };
  return JSON.stringify(artifact, null, 2) + '\n';
}

function compile() {
  const sources = {};
  for (const file of solidityFiles(SRC)) {
    sources[path.relative(ROOT, file).split(path.sep).join('/')] = { content: fs.readFileSync(file, 'utf8') };
  }
  const output = compileSources(sources);
  const artifacts = {};
  for (const [, contracts] of Object.entries(output.contracts)) {
    for (const [name, c] of Object.entries(contracts)) {
      if (!DEPLOYABLE.includes(name)) continue;
      const size = c.evm.deployedBytecode.object.length / 2;
      if (size > 24576) {
        process.stderr.write(`compile.js: ${name} is ${size} bytes, above the 24,576-byte code-size limit\n`);
        process.exit(1);
      }
      artifacts[name] = artifactText(c);
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

// The example apps: each compiled with Ferry's Types.sol as "ferry/Types.sol"; path (from the repository) →
// artifact text.
function compileExamples() {
  const out = {};
  for (const ex of EXAMPLES) {
    const sources = {
      'ferry/Types.sol': { content: fs.readFileSync(path.join(SRC, 'Types.sol'), 'utf8') },
      [ex.source]: { content: fs.readFileSync(path.join(REPO, ex.source), 'utf8') },
    };
    const c = (compileSources(sources).contracts[ex.source] || {})[ex.name];
    if (!c) {
      process.stderr.write(`compile.js: contract ${ex.name} not found in ${ex.source}\n`);
      process.exit(1);
    }
    out[ex.source.replace(/\.sol$/, '.json')] = artifactText(c);
  }
  return out;
}

const check = process.argv.includes('--check');
const artifacts = compile();
const examples = compileExamples();
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
  for (const [file, text] of Object.entries(examples)) {
    const full = path.join(REPO, file);
    if (!fs.existsSync(full) || fs.readFileSync(full, 'utf8') !== text) {
      process.stderr.write(`stale artifact: ${file} is missing or differs from a fresh compile\n`);
      stale++;
    }
  }
  if (stale > 0) {
    process.stderr.write('run `node contracts/scripts/compile.js` and commit contracts/artifacts and the examples\n');
    process.exit(1);
  }
  console.log(
    `artifacts fresh: ${Object.keys(artifacts).length} contracts, ${Object.keys(examples).length} example(s) (solc ${solc.version()})`,
  );
} else {
  fs.mkdirSync(OUT, { recursive: true });
  for (const [name, text] of Object.entries(artifacts)) fs.writeFileSync(path.join(OUT, `${name}.json`), text);
  for (const [file, text] of Object.entries(examples)) fs.writeFileSync(path.join(REPO, file), text);
  console.log(
    `wrote ${Object.keys(artifacts).length} artifacts to contracts/artifacts and ${Object.keys(examples).length} example(s) (solc ${solc.version()})`,
  );
}
