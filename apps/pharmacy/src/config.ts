import { Transform } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';
import {
  buildServiceConfig,
  MessageServerEnvironment,
  MessagingEnvironment,
  RedisEnvironment,
  ServiceConfig,
  ServiceConfigOf,
  toInt,
  TransactionsEnvironment,
} from '@hospital/platform';
import { QuotaCacheEnvironment } from '@hospital/transactions';

/** The simulated supplier's own setting. */
export class SupplierEnvironment {
  /** How long the simulated supplier takes to ship a purchase order. */
  @Transform(toInt) @IsInt() @Min(0) @Max(3_600_000) SUPPLIER_DELAY_MS: number = 2_000;
}

/** The pharmacy's message server serves the supply chain's purchase orders unless told otherwise. */
export class PharmacyMessageServerEnvironment extends MessageServerEnvironment {
  override MESSAGE_PRODUCERS: string = 'pharmacy-supply-chain=http://127.0.0.1:3042';
}

/** Each part is its own process with its own database (`hospital_<name>`, `-` as `_`), and reads only its pieces. */
export const PHARMACY_PARTS = {
  dispensing: { name: 'pharmacy', defaultPort: 3004 },
  inventory: { name: 'pharmacy-inventory', defaultPort: 3041 },
  supplyChain: {
    name: 'pharmacy-supply-chain',
    defaultPort: 3042,
    /** Purchase orders go through the message server (`PHARMACY_MESSAGES_URL` overrides it). */
    peers: { 'pharmacy-messages': 'http://127.0.0.1:3044' },
  },
  supplier: { name: 'pharmacy-supplier', defaultPort: 3043 },
  messageServer: { name: 'pharmacy-messages', defaultPort: 3044 },
} as const;

const DISPENSING_PIECES = [MessagingEnvironment] as const;
/** Inventory also keeps part of its drug capacity in the treatment plans' quota cache (Redis). */
const INVENTORY_PIECES = [MessagingEnvironment, RedisEnvironment, QuotaCacheEnvironment] as const;
const SUPPLY_CHAIN_PIECES = [MessagingEnvironment, TransactionsEnvironment] as const;
const SUPPLIER_PIECES = [MessagingEnvironment, SupplierEnvironment] as const;
const MESSAGE_SERVER_PIECES = [MessagingEnvironment, PharmacyMessageServerEnvironment] as const;

/** What every part's modules may assume: the platform's settings (each part's own type adds its pieces). */
export type PharmacyConfig = ServiceConfig;
export type SupplyChainConfig = ServiceConfigOf<typeof SUPPLY_CHAIN_PIECES>;
export type SupplierConfig = ServiceConfigOf<typeof SUPPLIER_PIECES>;
export type MessageServerConfig = ServiceConfigOf<typeof MESSAGE_SERVER_PIECES>;

/** Dispensing: the pharmacy's FHIR endpoint (formulary, prescriptions, dispenses). */
export function dispensingConfig(env: NodeJS.ProcessEnv = process.env): PharmacyConfig {
  return buildServiceConfig(PHARMACY_PARTS.dispensing, DISPENSING_PIECES, env);
}

/** Inventory: stock per drug and location, reorders. */
export function inventoryConfig(env: NodeJS.ProcessEnv = process.env): PharmacyConfig {
  return buildServiceConfig(PHARMACY_PARTS.inventory, INVENTORY_PIECES, env);
}

/** Supply chain: purchase orders for reorders (two-phase messages), receipt of deliveries. */
export function supplyChainConfig(env: NodeJS.ProcessEnv = process.env): SupplyChainConfig {
  return buildServiceConfig(PHARMACY_PARTS.supplyChain, SUPPLY_CHAIN_PIECES, env);
}

/** The simulated supplier: ships purchase orders after SUPPLIER_DELAY_MS. */
export function supplierConfig(env: NodeJS.ProcessEnv = process.env): SupplierConfig {
  return buildServiceConfig(PHARMACY_PARTS.supplier, SUPPLIER_PIECES, env);
}

/** The two-phase message server purchase orders go through. */
export function messageServerConfig(env: NodeJS.ProcessEnv = process.env): MessageServerConfig {
  return buildServiceConfig(PHARMACY_PARTS.messageServer, MESSAGE_SERVER_PIECES, env);
}
