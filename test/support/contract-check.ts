// The comparison of ../shared/tools/contract-check.mjs, as a function: every contract type,
// field, argument, input field and enum value must exist in the schema with a fitting type.
import {
  buildSchema,
  type GraphQLSchema,
  type GraphQLType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
} from 'graphql';

function outputFits(wanted: GraphQLType, actual: GraphQLType): boolean {
  if (isNonNullType(wanted)) return isNonNullType(actual) && outputFits(wanted.ofType, actual.ofType);
  if (isNonNullType(actual)) return outputFits(wanted, actual.ofType);
  if (isListType(wanted)) return isListType(actual) && outputFits(wanted.ofType, actual.ofType);
  return !isListType(actual) && (wanted as { name: string }).name === (actual as { name: string }).name;
}
function inputFits(wanted: GraphQLType, actual: GraphQLType): boolean {
  if (isNonNullType(actual)) return isNonNullType(wanted) && inputFits(wanted.ofType, actual.ofType);
  if (isNonNullType(wanted)) return inputFits(wanted.ofType, actual);
  if (isListType(wanted)) return isListType(actual) && inputFits(wanted.ofType, actual.ofType);
  return !isListType(actual) && (wanted as { name: string }).name === (actual as { name: string }).name;
}

export function contractGaps(contractSdl: string, schema: GraphQLSchema): string[] {
  const contract = buildSchema(contractSdl);
  const gaps: string[] = [];
  for (const type of Object.values(contract.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    const mine = schema.getType(type.name);
    if (!mine) {
      gaps.push(`missing type ${type.name}`);
      continue;
    }
    if (mine.constructor.name !== type.constructor.name) {
      gaps.push(`${type.name}: is a ${mine.constructor.name}, contract says ${type.constructor.name}`);
      continue;
    }
    if (isEnumType(type) && isEnumType(mine)) {
      const values = new Set(mine.getValues().map((v) => v.name));
      for (const v of type.getValues()) if (!values.has(v.name)) gaps.push(`missing enum value ${type.name}.${v.name}`);
    } else if (isInputObjectType(type) && isInputObjectType(mine)) {
      const fields = mine.getFields();
      for (const f of Object.values(type.getFields())) {
        const m = fields[f.name];
        if (!m) gaps.push(`missing input field ${type.name}.${f.name}`);
        else if (!inputFits(f.type, m.type)) gaps.push(`${type.name}.${f.name}: is ${m.type}, contract says ${f.type}`);
      }
    } else if ((isObjectType(type) || isInterfaceType(type)) && (isObjectType(mine) || isInterfaceType(mine))) {
      const fields = mine.getFields();
      for (const f of Object.values(type.getFields())) {
        const m = fields[f.name];
        if (!m) {
          gaps.push(`missing field ${type.name}.${f.name}`);
          continue;
        }
        if (!outputFits(f.type, m.type)) gaps.push(`${type.name}.${f.name}: is ${m.type}, contract says ${f.type}`);
        for (const a of f.args) {
          const ma = m.args.find((x) => x.name === a.name);
          if (!ma) gaps.push(`missing argument ${type.name}.${f.name}(${a.name})`);
          else if (!inputFits(a.type, ma.type))
            gaps.push(`${type.name}.${f.name}(${a.name}): is ${ma.type}, contract says ${a.type}`);
        }
        for (const ma of m.args) {
          if (isNonNullType(ma.type) && ma.defaultValue === undefined && !f.args.some((a) => a.name === ma.name))
            gaps.push(`${type.name}.${f.name}(${ma.name}): required here, absent from the contract`);
        }
      }
    }
  }
  return gaps;
}
