import { Module } from '@nestjs/common';
import { ShippingService } from './shipping.service';
import { SupplierRepository } from './supplier.repository';

/** The supplier's book of purchase orders and its shipping sweep (the outbox comes from MessagingModule). */
@Module({
  providers: [SupplierRepository, ShippingService],
  exports: [SupplierRepository, ShippingService],
})
export class ShippingModule {}
