import type { SearchDeclaration } from '@hospital/fhir';

/** The FHIR resource types the supply chain serves at /fhir: its purchase orders and the deliveries against them. */
export const SUPPLY_CHAIN_RESOURCES: SearchDeclaration = {
  SupplyRequest: ['_id', 'identifier', 'status', 'category', 'date', 'supplier'],
  SupplyDelivery: ['_id', 'identifier', 'status', 'supplier', 'receiver'],
};
