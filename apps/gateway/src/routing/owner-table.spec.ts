import { OwnerTable } from './owner-table';

describe('OwnerTable', () => {
  const backends = ['emr', 'icu-monitor', 'telemedicine', 'lis'];

  it('routes a type served by several backends to the preferred one', () => {
    const table = new OwnerTable(backends);
    table.update('telemedicine', ['ServiceRequest', 'Encounter', 'Practitioner']);
    table.update('emr', ['Patient', 'Encounter', 'ServiceRequest', 'Practitioner']);
    table.update('lis', ['Patient', 'ServiceRequest']);
    expect(table.ownerOf('Patient')).toBe('emr');
    expect(table.ownerOf('ServiceRequest')).toBe('emr');
    expect(table.ownerOf('Practitioner')).toBe('telemedicine');
  });

  it('routes to the preferred backend before its CapabilityStatement is known, and only then', () => {
    const table = new OwnerTable(backends);
    expect(table.ownerOf('Observation')).toBe('icu-monitor');
    table.update('icu-monitor', ['Flag']);
    expect(table.ownerOf('Observation')).toBeUndefined();
  });

  it('falls back to the first backend declaring a type nobody prefers', () => {
    const table = new OwnerTable(backends);
    table.update('lis', ['Specimen']);
    expect(table.ownerOf('Specimen')).toBe('lis');
  });

  it('knows no owner for unknown types, for shapes that are not types, or for unconfigured backends', () => {
    const table = new OwnerTable(['emr']);
    table.update('emr', ['Patient']);
    expect(table.ownerOf('Unicorn')).toBeUndefined();
    expect(table.ownerOf('patient')).toBeUndefined();
    expect(table.ownerOf('$export')).toBeUndefined();
    expect(table.ownerOf('..')).toBeUndefined();
    expect(table.ownerOf('constructor')).toBeUndefined();
    expect(table.ownerOf('Observation')).toBeUndefined();
  });

  it('forgets what a backend served when its statement is lost', () => {
    const table = new OwnerTable(['emr', 'lis']);
    table.update('lis', ['Specimen']);
    table.update('lis', undefined);
    expect(table.ownerOf('Specimen')).toBeUndefined();
  });

  it('gives a Bundle to the owner of all its entries, or to the EMR when they are mixed', () => {
    const table = new OwnerTable(backends);
    table.update('emr', ['Patient', 'Encounter']);
    table.update('icu-monitor', ['Observation']);
    expect(table.coordinatorOf(['Observation', 'Observation'])).toBe('icu-monitor');
    expect(table.coordinatorOf(['Patient', 'Observation'])).toBe('emr');
    expect(table.coordinatorOf(['Patient', 'Unicorn'])).toBeUndefined();
  });

  it('lists every routed type with its owner', () => {
    const table = new OwnerTable(['emr', 'lis']);
    table.update('emr', ['Patient', 'Encounter']);
    table.update('lis', ['Patient', 'Specimen']);
    expect(table.routes()).toEqual([
      ['Encounter', 'emr'],
      ['Patient', 'emr'],
      ['Specimen', 'lis'],
    ]);
  });
});
