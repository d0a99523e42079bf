export { catalogue, catalogueEntry, DIAGNOSIS_IDS, type CatalogueEntry, type DiagnosisId, type DiagnosisRules } from './catalogue.js';
export { diagnose, diagnoseLog, diagnoseText, failureFromText, type LogFinding, type Match } from './match.js';
