import { parsePrefer } from './prefer';

describe('parsePrefer', () => {
  it.each([
    [undefined, {}],
    ['handling=strict', { handling: 'strict' }],
    ['handling=lenient', { handling: 'lenient' }],
    ['return=minimal', { return: 'minimal' }],
    ['return="representation"', { return: 'representation' }],
    ['return=operationoutcome', { return: 'OperationOutcome' }],
    ['return=minimal, handling=strict', { return: 'minimal', handling: 'strict' }],
    ['Handling = strict; respond-async', { handling: 'strict' }],
    [['return=OperationOutcome', 'handling=strict'], { return: 'OperationOutcome', handling: 'strict' }],
    ['handling=sloppy, return=everything, wait=10', {}],
  ])('reads %j', (header, expected) => {
    expect(parsePrefer(header)).toEqual(expected);
  });
});
