import { Transform } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';
import { BaseEnvironment, buildServiceConfig, ServiceConfig } from '@hospital/platform';

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() !== '' ? Number(value) : value;

/** Settings of the pharmacy's parts: the shared ones, and the simulated supplier's shipping delay. */
export class PharmacyEnvironment extends BaseEnvironment {
  /** How long the simulated supplier takes to ship a purchase order (pharmacy-supplier only). */
  @Transform(toInt) @IsInt() @Min(0) @Max(3_600_000) SUPPLIER_DELAY_MS: number = 2_000;
}

export type PharmacyConfig = ServiceConfig<PharmacyEnvironment>;

/** Each part is its own process with its own database (`hospital_<name>`, `-` as `_`). */
export const PHARMACY_PARTS = {
  dispensing: { name: 'pharmacy', defaultPort: 3004 },
  inventory: { name: 'pharmacy-inventory', defaultPort: 3041 },
  supplyChain: { name: 'pharmacy-supply-chain', defaultPort: 3042 },
  supplier: { name: 'pharmacy-supplier', defaultPort: 3043 },
  messageServer: { name: 'pharmacy-messages', defaultPort: 3044 },
} as const;

/** Dispensing: the pharmacy's FHIR endpoint (formulary, prescriptions, dispenses). */
export function dispensingConfig(env: NodeJS.ProcessEnv = process.env): PharmacyConfig {
  return buildServiceConfig(PHARMACY_PARTS.dispensing, PharmacyEnvironment, env);
}

/** Inventory: stock per drug and location, reorders. */
export function inventoryConfig(env: NodeJS.ProcessEnv = process.env): PharmacyConfig {
  return buildServiceConfig(PHARMACY_PARTS.inventory, PharmacyEnvironment, env);
}

/** Supply chain: purchase orders for reorders, receipt of deliveries. */
export function supplyChainConfig(env: NodeJS.ProcessEnv = process.env): PharmacyConfig {
  return buildServiceConfig(PHARMACY_PARTS.supplyChain, PharmacyEnvironment, env);
}

/** The simulated supplier: ships purchase orders after SUPPLIER_DELAY_MS. */
export function supplierConfig(env: NodeJS.ProcessEnv = process.env): PharmacyConfig {
  return buildServiceConfig(PHARMACY_PARTS.supplier, PharmacyEnvironment, env);
}

/** The two-phase message server purchase orders go through. */
export function messageServerConfig(env: NodeJS.ProcessEnv = process.env): PharmacyConfig {
  return buildServiceConfig(PHARMACY_PARTS.messageServer, PharmacyEnvironment, env);
}
